-- pipeline bookkeeping: runs, lineage, validation, quarantine
create table etl_run (
    run_id varchar primary key,
    started_at timestamp not null,
    finished_at timestamp,
    status varchar not null,
    source_dir varchar not null,
    content_checksum varchar,
    message varchar,
    schema_fingerprint varchar
);
comment on table etl_run is 'ETL runs: the run that built this warehouse and its history';
comment on column etl_run.run_id is 'Run id (UTC timestamp + short hash of the sources)';
comment on column etl_run.started_at is 'Start time (UTC)';
comment on column etl_run.finished_at is 'End time (UTC)';
comment on column etl_run.status is 'published, or failed';
comment on column etl_run.source_dir is 'Source bundle directory';
comment on column etl_run.content_checksum is 'sha256 over every published table''s rows (same sources → same checksum)';
comment on column etl_run.message is 'Summary or error message';
comment on column etl_run.schema_fingerprint is 'sha256 of the warehouse DDL and marts SQL that built it (null: built before fingerprints); a mismatch with the code means rebuild (python -m etl upgrade)';

create table etl_source_file (
    run_id varchar not null,
    file_name varchar not null,
    kind varchar not null,
    sha256 varchar not null,
    size_bytes bigint not null,
    encoding varchar,
    rows_read integer not null,
    rows_loaded integer not null,
    rows_quarantined integer not null,
    fiscal_year integer,
    fiscal_year_from varchar
);
comment on table etl_source_file is 'Lineage: every source file a run read';
comment on column etl_source_file.file_name is 'File name inside the bundle';
comment on column etl_source_file.kind is 'Source kind (distribution, survey, mymaps, events, progress, cities, seed)';
comment on column etl_source_file.sha256 is 'sha256 of the file bytes';
comment on column etl_source_file.size_bytes is 'File size in bytes';
comment on column etl_source_file.encoding is 'Detected text encoding (text files only)';
comment on column etl_source_file.rows_read is 'Data rows read';
comment on column etl_source_file.rows_loaded is 'Rows loaded into the warehouse';
comment on column etl_source_file.rows_quarantined is 'Rows set aside in quarantine';
comment on column etl_source_file.fiscal_year is '年度 of the file (西暦 start year); null for seeds and reference geography';
comment on column etl_source_file.fiscal_year_from is 'How the year was known: folder (a year sub-folder such as R7/) or default (a flat bundle: TSUNAGARI_FISCAL_YEAR or 2024)';

create table etl_source_sheet (
    run_id varchar not null,
    file_name varchar not null,
    sheet varchar not null,
    rows_read integer not null
);
comment on table etl_source_sheet is 'Lineage: data rows each sheet of a workbook held (sheets with none included), for the change guard';
comment on column etl_source_sheet.file_name is 'File name inside the bundle';
comment on column etl_source_sheet.sheet is 'Sheet name as the source contract names it';
comment on column etl_source_sheet.rows_read is 'Data rows read from the sheet (0: header row only)';

create table etl_validation (
    run_id varchar not null,
    table_name varchar not null,
    expectation varchar not null,
    column_name varchar,
    success boolean not null,
    element_count integer,
    unexpected_count integer,
    details varchar
);
comment on table etl_validation is 'Great Expectations results per table and expectation';
comment on column etl_validation.table_name is 'Validated table';
comment on column etl_validation.expectation is 'Expectation type and its key arguments';
comment on column etl_validation.column_name is 'Column checked, if any';
comment on column etl_validation.success is 'Passed (after quarantining failing rows, the table is re-checked)';
comment on column etl_validation.element_count is 'Rows checked';
comment on column etl_validation.unexpected_count is 'Rows that failed';
comment on column etl_validation.details is 'Partial list of failing values';

create table quarantine (
    run_id varchar not null,
    file_name varchar not null,
    sheet varchar,
    row_number integer,
    column_name varchar,
    value varchar,
    reason varchar not null,
    check_name varchar not null,
    scope varchar,
    root_cause varchar,
    dependants integer
);
comment on table quarantine is 'Values and rows set aside: file, row and column, with the reason, for the city to fix and resend';
comment on column quarantine.file_name is 'Source file';
comment on column quarantine.sheet is 'Sheet (xlsx) or layer (KML)';
comment on column quarantine.row_number is 'Row as the user sees it (Excel row, CSV line, placemark number)';
comment on column quarantine.column_name is 'Column at fault';
comment on column quarantine.value is 'Offending value';
comment on column quarantine.reason is 'Why the row was set aside (Japanese, for the city)';
comment on column quarantine.check_name is 'Check that caught it (normaliser or expectation name)';
comment on column quarantine.scope is 'cell: the value was left out (null) and the row loaded; row: the row was set aside; dependants: rows set aside with their parent row';
comment on column quarantine.root_cause is 'The row (file, sheet, row) or sheet whose problem caused this record; groups a parent with its dependants';
comment on column quarantine.dependants is 'For scope dependants: how many rows of this sheet were set aside with the root cause';

create table etl_data_docs (
    run_id varchar primary key,
    html varchar not null
);
comment on table etl_data_docs is 'Great Expectations validation report of each run, as one self-contained HTML page';
comment on column etl_data_docs.html is 'The report (HTML)';
