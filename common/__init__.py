"""What the ETL, the warehouse and the dashboard share: text normalisation, the calendar, the viewer and roles."""

import os

# openpyxl picks its XML writer once, at import: lxml when installed (python-docx brings it), else the
# standard library. The two write different bytes for the same workbook, and the sample bundle, the golden
# digests and the downloads are compared byte for byte, so the project always uses the standard library.
# Every package that imports openpyxl imports this package first (its __init__), before openpyxl loads.
os.environ.setdefault("OPENPYXL_LXML", "False")
