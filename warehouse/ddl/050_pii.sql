-- personal data: kept apart in schema pii, read only through warehouse.query for roles allowed to
create schema pii;

create table pii.organization_contact (
    fiscal_year integer not null,
    organization_id varchar not null,
    source_list varchar not null,
    contact_name varchar,
    contact_email varchar,
    contact_phone varchar
);
comment on table pii.organization_contact is '個人情報: contact persons from the distribution list';
comment on column pii.organization_contact.source_list is 'List the contact came from';
comment on column pii.organization_contact.contact_name is '担当者名 (personal data)';
comment on column pii.organization_contact.contact_email is '担当者メール (personal data)';
comment on column pii.organization_contact.contact_phone is '担当者電話: direct or private phone (personal data)';

create table pii.survey_respondent (
    fiscal_year integer not null,
    response_id varchar not null,
    organization_id varchar not null,
    respondent_name varchar,
    respondent_email varchar,
    respondent_phone varchar
);
comment on table pii.survey_respondent is '個人情報: who filled in the survey';
comment on column pii.survey_respondent.response_id is 'survey_response.id';
comment on column pii.survey_respondent.respondent_name is 'ご回答者のお名前 (personal data)';
comment on column pii.survey_respondent.respondent_email is 'ご連絡先メールアドレス (personal data)';
comment on column pii.survey_respondent.respondent_phone is 'ご連絡先電話番号 (personal data)';

create table pii.event_participant (
    fiscal_year integer not null,
    participant_id varchar not null,
    name varchar,
    is_consultee boolean not null,
    primary key (fiscal_year, participant_id)
);
comment on table pii.event_participant is '個人情報: workshop participants (consultee status is sensitive)';
comment on column pii.event_participant.participant_id is '参加者ID (pseudonymous)';
comment on column pii.event_participant.name is '氏名 (personal data)';
comment on column pii.event_participant.is_consultee is '区分 相談者 = true (sensitive)';

create table pii.event_attendance (
    fiscal_year integer not null,
    participant_id varchar not null,
    session_id varchar not null
);
comment on table pii.event_attendance is '個人情報: who attended which workshop session';
comment on column pii.event_attendance.participant_id is 'pii.event_participant.participant_id';
comment on column pii.event_attendance.session_id is 'event_session.id';

create table pii.event_session_consultees (
    fiscal_year integer not null,
    session_id varchar not null,
    consultees integer not null,
    primary key (fiscal_year, session_id)
);
comment on table pii.event_session_consultees is '個人情報: うち相談者数 per session (sensitive: participants who are consultees of the cities'' support services)';
comment on column pii.event_session_consultees.session_id is 'event_session.id';
comment on column pii.event_session_consultees.consultees is 'うち相談者数: participants who are consultees of the cities'' support services (≤ event_session.participants)';
