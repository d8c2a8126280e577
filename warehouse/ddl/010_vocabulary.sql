-- vocabularies loaded from warehouse/seeds/*.csv
create table city (
    code varchar primary key,
    name_ja varchar not null,
    name_en varchar not null,
    sort_order integer not null,
    population integer,
    population_date date
);
comment on table city is '4市の基本情報 / The four cities, with populations for per-capita figures';
comment on column city.code is '全国地方公共団体コード (5 digits, e.g. 14216 座間市)';
comment on column city.name_ja is '市名 (Japanese name)';
comment on column city.name_en is 'City name in English';
comment on column city.population is '人口 (residents, 住民基本台帳) from cities.csv';
comment on column city.population_date is '人口基準日 (date the population refers to)';

create table legal_form (
    code varchar primary key,
    name_ja varchar not null,
    name_en varchar not null,
    sort_order integer not null
);
comment on table legal_form is '法人格 / Legal forms of organisations';
comment on column legal_form.code is 'Legal-form code (npo, social_welfare, …)';
comment on column legal_form.name_ja is '法人格 (Japanese label)';
comment on column legal_form.name_en is 'Legal form in English';

create table channel (
    code varchar primary key,
    name_ja varchar not null,
    name_en varchar not null,
    sort_order integer not null
);
comment on table channel is '配布方法 / Questionnaire distribution channels';
comment on column channel.code is 'Channel code (mail, post, hand, fax)';
comment on column channel.name_ja is '配布方法 (Japanese label)';
comment on column channel.name_en is 'Channel in English';

create table pf_intent (
    code varchar primary key,
    name_ja varchar not null,
    name_en varchar not null,
    sort_order integer not null
);
comment on table pf_intent is 'PF参画意向 / Platform participation intent';
comment on column pf_intent.code is 'Intent code (join, interested, not_now)';
comment on column pf_intent.name_ja is '参画意向 (Japanese label)';
comment on column pf_intent.name_en is 'Intent in English';

create table taxonomy (
    id varchar primary key,
    name varchar not null,
    name_en varchar not null,
    description varchar
);
comment on table taxonomy is 'HSDS taxonomy: the classification schemes (content, form, target)';
comment on column taxonomy.id is 'Taxonomy id (content, form, target)';
comment on column taxonomy.name is 'Taxonomy name in Japanese';
comment on column taxonomy.name_en is 'Taxonomy name in English';
comment on column taxonomy.description is 'What the taxonomy classifies';

create table taxonomy_term (
    id varchar primary key,
    taxonomy_id varchar not null,
    code varchar not null,
    parent_id varchar,
    name varchar not null,
    name_en varchar not null,
    sort_order integer not null,
    gradient_rank integer,
    color_hex varchar
);
comment on table taxonomy_term is 'HSDS taxonomy_term: activity contents (two levels), support forms and target groups';
comment on column taxonomy_term.id is 'Term id, "<taxonomy>:<code>" (e.g. content:hikikomori, content:family, form:ibasho)';
comment on column taxonomy_term.taxonomy_id is 'The taxonomy this term belongs to';
comment on column taxonomy_term.code is 'Term code within its taxonomy';
comment on column taxonomy_term.parent_id is 'Parent term (content categories point to their group); null at the top level';
comment on column taxonomy_term.name is 'Term label in Japanese (the report''s wording)';
comment on column taxonomy_term.name_en is 'Term label in English';
comment on column taxonomy_term.sort_order is 'Display order (for forms: the report''s order)';
comment on column taxonomy_term.gradient_rank is 'Support forms only: position on the report''s gradient, 1 アウトリーチ … 7 安全に時間を過ごせる場所; null off the gradient';
comment on column taxonomy_term.color_hex is 'Support forms only: map colour (#rrggbb)';

create table pf_phase (
    code varchar primary key,
    label varchar not null,
    name_ja varchar not null,
    name_en varchar not null,
    sort_order integer not null
);
comment on table pf_phase is 'PF構築の段階 (ア)〜(エ) / Platform-building phases of the national guide';
comment on column pf_phase.code is 'Phase code (a, i, u, e)';
comment on column pf_phase.label is 'Phase label as printed, (ア)…(エ)';
comment on column pf_phase.name_ja is 'Phase name in Japanese (初期段階 …)';
comment on column pf_phase.name_en is 'Phase name in English';
comment on column pf_phase.sort_order is 'Phase order';

create table pf_step (
    code varchar primary key,
    label varchar not null,
    name_ja varchar not null,
    name_en varchar not null,
    phase_code varchar not null,
    sort_order integer not null
);
comment on table pf_step is 'PF構築のステップ ①〜⑨ / Platform-building steps';
comment on column pf_step.code is 'Step code (s1 … s9, s4_1, s4_2)';
comment on column pf_step.label is 'Step label as printed (①, ④-1, …)';
comment on column pf_step.name_ja is 'Step name in Japanese';
comment on column pf_step.name_en is 'Step name in English';
comment on column pf_step.phase_code is 'The phase the step belongs to';
comment on column pf_step.sort_order is 'Step order';

create table pf_status (
    code varchar primary key,
    name_ja varchar not null,
    name_en varchar not null,
    sort_order integer not null
);
comment on table pf_status is '進捗状態 / Step status';
comment on column pf_status.code is 'Status code (not_started, in_progress, done, undecided)';
comment on column pf_status.name_ja is 'Status in Japanese (未着手 / 進行中 / 完了 / 未定)';
comment on column pf_status.name_en is 'Status in English';
