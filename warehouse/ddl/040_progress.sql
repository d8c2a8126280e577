-- platform-building progress
create table pf_progress (
    fiscal_year integer not null,
    city_code varchar not null,
    step_code varchar not null,
    status_code varchar not null,
    start_month date,
    start_precision varchar,
    start_label varchar,
    end_month date,
    end_label varchar,
    note varchar,
    recorded_by varchar,
    recorded_on date,
    source_row integer not null,
    primary key (fiscal_year, city_code, step_code)
);
comment on table pf_progress is 'PF構築プロセスの進捗: one row per city and step';
comment on column pf_progress.city_code is 'city.code';
comment on column pf_progress.step_code is 'pf_step.code';
comment on column pf_progress.status_code is 'pf_status.code';
comment on column pf_progress.start_month is '開始 as the first day of its calendar month (R6年度2月 → 2025-02-01); null when 未定';
comment on column pf_progress.start_precision is 'month, or fiscal_year for "R7年度~" (then start_month is that 年度''s April)';
comment on column pf_progress.start_label is '開始 exactly as written';
comment on column pf_progress.end_month is '完了 month (first day); null while not done';
comment on column pf_progress.end_label is '完了 exactly as written';
comment on column pf_progress.note is '備考';
comment on column pf_progress.recorded_by is '記入者 (department, not a person)';
comment on column pf_progress.recorded_on is '記入日';
comment on column pf_progress.source_row is 'Excel row on sheet 進捗';

create table pf_note (
    fiscal_year integer not null,
    id varchar not null,
    city_code varchar not null,
    noted_on date not null,
    kind varchar not null,
    text varchar not null,
    primary key (fiscal_year, id)
);
comment on table pf_note is '振り返り: dated breakthrough factors, open issues and changes per city';
comment on column pf_note.id is 'city code + "-N" + row';
comment on column pf_note.city_code is 'city.code';
comment on column pf_note.noted_on is '日付';
comment on column pf_note.kind is 'breakthrough (ブレイクスルー要因), issue (取り組み課題) or change (その後の変化)';
comment on column pf_note.text is '内容';
