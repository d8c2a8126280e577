"""What the ETL, the warehouse and the dashboard share: text normalisation, the calendar, the viewer and roles."""
