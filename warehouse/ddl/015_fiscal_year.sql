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

create table organization_year (
    fiscal_year integer not null,
    organization_id varchar not null,
    name varchar not null,
    city_code varchar not null,
    source_count integer not null,
    survey_answered boolean not null,
    primary key (fiscal_year, organization_id)
);
comment on table organization_year is 'One row per organisation and 年度 whose distribution list carries it: what organization holds for its latest year, per year (continuity and per-year response rates)';
comment on column organization_year.organization_id is 'organization.id (the matching key, the same in every year)';
comment on column organization_year.name is '団体名 as that year''s first list spells it (NFKC, trimmed)';
comment on column organization_year.city_code is '所在市 that year (city.code): an organisation that moved has another city in another year';
comment on column organization_year.source_count is 'How many of that year''s lists carry it';
comment on column organization_year.survey_answered is 'Whether it answered that year''s survey';
