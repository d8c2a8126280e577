-- KPI targets set by the cities' managers (kpi_targets.csv), compared on the page イベント実績
create table kpi_target (
    fiscal_year integer not null,
    id varchar not null,
    kpi_code varchar not null,
    city_code varchar,
    target_value double not null,
    unit varchar not null,
    set_by varchar,
    set_on date,
    source_row integer not null,
    primary key (fiscal_year, id)
);
comment on table kpi_target is 'KPI の目標値: one target per KPI and city (or the four cities together)';
comment on column kpi_target.id is 'kpi_code + ":" + city_code, or kpi_code + ":all" for the four cities together';
comment on column kpi_target.kpi_code is 'KPI code from the allow-list etl/sources/targets.py KPIS (the KPIs of mart_event_kpis)';
comment on column kpi_target.city_code is 'City the target is for (city.code); null = 4市全体 (the four cities together)';
comment on column kpi_target.target_value is '目標値 in the KPI''s unit (people, people per day, percent or yen)';
comment on column kpi_target.unit is 'The KPI''s unit: 名, 名/日, % or 円 (a 単位 given in the file must agree)';
comment on column kpi_target.set_by is '設定者: department or role that set the target (not a person''s name)';
comment on column kpi_target.set_on is '設定日: date the target was set; the latest one wins for the same KPI and city';
comment on column kpi_target.source_row is 'CSV line of the target in kpi_targets.csv (header = 1)';
