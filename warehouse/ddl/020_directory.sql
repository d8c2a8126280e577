-- resource directory, named after Open Referral HSDS 3.1 where a table fits
create table organization (
    id varchar primary key,
    name varchar not null,
    name_key varchar not null,
    legal_form_code varchar,
    city_code varchar not null,
    address varchar,
    phone varchar,
    fax varchar,
    first_source_list varchar not null,
    source_count integer not null,
    distribution_channel_code varchar,
    distributed_on date,
    survey_answered boolean not null,
    pf_intent_code varchar,
    has_isolation_initiative boolean,
    first_fiscal_year integer not null,
    last_fiscal_year integer not null
);
comment on table organization is 'HSDS organization: one row per distinct organisation on the distribution lists (after de-duplication, across fiscal years by matching key)';
comment on column organization.id is 'Stable id, "ORG-" + 12 hex of sha1(name_key)';
comment on column organization.name is '団体名 as on the first list it appears on (NFKC, trimmed)';
comment on column organization.name_key is 'Matching key: NFKC, casefold, legal-form words, spaces and punctuation removed';
comment on column organization.legal_form_code is '法人格 (legal_form.code)';
comment on column organization.city_code is '所在市: city where it is located (city.code)';
comment on column organization.address is '住所 (public street address)';
comment on column organization.phone is '電話番号: the organisation''s public phone';
comment on column organization.fax is 'FAX number';
comment on column organization.first_source_list is 'First list it appears on (座間市, 綾瀬市, 大和市, 海老名市, 自主調査)';
comment on column organization.source_count is 'How many source lists carry it';
comment on column organization.distribution_channel_code is '配布方法 of the questionnaire (channel.code)';
comment on column organization.distributed_on is '配布日: date the questionnaire was sent';
comment on column organization.survey_answered is 'Whether it answered the survey';
comment on column organization.pf_intent_code is 'PF参画意向 from its answer (pf_intent.code); null if it did not answer';
comment on column organization.has_isolation_initiative is 'Answered はい to running an isolation-related initiative; null if no answer';
comment on column organization.first_fiscal_year is 'First 年度 (西暦 start year) whose distribution list carries it';
comment on column organization.last_fiscal_year is 'Latest 年度 whose distribution list carries it; the other columns come from that year';

create table organization_source (
    fiscal_year integer not null,
    organization_id varchar not null,
    source_list varchar not null,
    source_row integer not null,
    name_as_listed varchar not null,
    city_code varchar
);
comment on table organization_source is 'Every row of the distribution list: which list carried which organisation, spelled how';
comment on column organization_source.organization_id is 'The de-duplicated organisation (organization.id)';
comment on column organization_source.source_list is 'Sheet of distribution_list.xlsx (座間市, 綾瀬市, 大和市, 海老名市, 自主調査)';
comment on column organization_source.source_row is 'Excel row number on that sheet';
comment on column organization_source.name_as_listed is '団体名 exactly as that list spells it';
comment on column organization_source.city_code is '所在市 as that list gives it';

create table service (
    fiscal_year integer not null,
    id varchar not null,
    organization_id varchar not null,
    name varchar not null,
    hours varchar,
    languages varchar,
    accessibility varchar,
    referrals varchar,
    ideas varchar,
    primary key (fiscal_year, id)
);
comment on table service is 'HSDS service: what an organisation that answered the survey offers (one per answer)';
comment on column service.id is '"SVC-" + organization id';
comment on column service.name is 'Service name (the organisation''s name)';
comment on column service.hours is '活動日時 (free text)';
comment on column service.languages is '対応言語, joined with 、';
comment on column service.accessibility is 'バリアフリー対応, joined with 、';
comment on column service.referrals is 'ご紹介いただける団体 (free text)';
comment on column service.ideas is '孤独・孤立問題に取り組むアイデア (free text)';

create table attribute (
    fiscal_year integer not null,
    id varchar not null,
    link_id varchar not null,
    link_type varchar not null,
    link_entity varchar not null,
    taxonomy_term_id varchar not null,
    primary key (fiscal_year, id)
);
comment on table attribute is 'HSDS attribute: links a service to its taxonomy terms (contents, forms, targets)';
comment on column attribute.id is '"ATT-" + service id + term id';
comment on column attribute.link_id is 'The linked record (service.id)';
comment on column attribute.link_type is 'Which taxonomy the link is for (content, form, target)';
comment on column attribute.link_entity is 'Linked table name (service)';
comment on column attribute.taxonomy_term_id is 'taxonomy_term.id';

create table service_area (
    fiscal_year integer not null,
    id varchar not null,
    service_id varchar not null,
    city_code varchar,
    name varchar not null,
    primary key (fiscal_year, id)
);
comment on table service_area is 'HSDS service_area: the cities a service serves (活動している市)';
comment on column service_area.id is '"SA-" + service id + city';
comment on column service_area.service_id is 'service.id';
comment on column service_area.city_code is 'city.code; null for 4市以外 (outside the four cities)';
comment on column service_area.name is 'City name as answered (4市以外 for outside)';

create table location (
    fiscal_year integer not null,
    id varchar not null,
    organization_id varchar not null,
    name varchar not null,
    address varchar,
    city_code varchar,
    latitude double not null,
    longitude double not null,
    hours varchar,
    last_verified date,
    map_layer varchar,
    source_row integer not null,
    primary key (fiscal_year, id)
);
comment on table location is 'HSDS location: a pin of the My Maps resource map, matched to its organisation';
comment on column location.id is '"LOC-" + organization id';
comment on column location.name is 'Pin name as on the map';
comment on column location.address is '住所 shown on the pin';
comment on column location.city_code is 'City of the organisation (city.code)';
comment on column location.latitude is 'Latitude, WGS84 degrees';
comment on column location.longitude is 'Longitude, WGS84 degrees';
comment on column location.hours is '活動時間 on the pin';
comment on column location.last_verified is '最終確認日: when the pin was last checked';
comment on column location.map_layer is 'My Maps layer (KML Folder) the pin sat in';
comment on column location.source_row is 'Placemark number in doc.kml (1-based)';

create table survey_response (
    fiscal_year integer not null,
    id varchar not null,
    organization_id varchar not null,
    submitted_at timestamp not null,
    city_code varchar not null,
    legal_form_code varchar,
    has_isolation_initiative boolean,
    pf_intent_code varchar,
    source_row integer not null,
    primary key (fiscal_year, id)
);
comment on table survey_response is 'リソース調査の回答: one row per organisation that answered (latest answer)';
comment on column survey_response.id is '"RES-" + organization id';
comment on column survey_response.organization_id is 'organization.id the answer was matched to';
comment on column survey_response.submitted_at is 'Google Forms タイムスタンプ (local time)';
comment on column survey_response.city_code is '所在市 as answered';
comment on column survey_response.legal_form_code is '法人格 as answered';
comment on column survey_response.has_isolation_initiative is 'つながり・孤独孤立に関連する取組の有無 (はい = true)';
comment on column survey_response.pf_intent_code is 'PF参画意向 (pf_intent.code)';
comment on column survey_response.source_row is 'CSV line number (header = 1)';
