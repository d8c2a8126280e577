-- fiscal years (年度) a source bundle holds: one sub-folder each, or one for a flat bundle
create table fiscal_year_bundle (
    fiscal_year integer primary key,
    source_folder varchar,
    year_from varchar not null,
    is_latest boolean not null
);
comment on table fiscal_year_bundle is '年度: one row per fiscal year of the source bundle; the marts other than mart_year_* show the latest';
comment on column fiscal_year_bundle.fiscal_year is '西暦 year the 年度 starts (2024 = R6年度); labels from common/calendar.py';
comment on column fiscal_year_bundle.source_folder is 'Sub-folder of the bundle the year came from (R6, 2025, …); null for a flat bundle';
comment on column fiscal_year_bundle.year_from is 'folder (named by its sub-folder) or default (a flat bundle: TSUNAGARI_FISCAL_YEAR, else 2024)';
comment on column fiscal_year_bundle.is_latest is 'The latest year of the bundle: what the existing marts and pages show';
