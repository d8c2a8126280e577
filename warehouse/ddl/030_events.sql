-- art project: events, sessions, venue surveys, contracts
create table event (
    fiscal_year integer not null,
    id varchar not null,
    kind varchar not null,
    title varchar not null,
    artist_or_programme varchar,
    city_code varchar not null,
    venue varchar not null,
    venue_address varchar,
    start_date date,
    end_date date,
    open_days integer,
    primary key (fiscal_year, id)
);
comment on table event is 'アート事業のイベント (exhibitions, workshops, symposium)';
comment on column event.id is 'イベントID (EX-EBINA, WS-1, SYM, …)';
comment on column event.kind is 'exhibition, workshop or symposium (種別 展示 / ワークショップ / シンポジウム)';
comment on column event.title is '名称';
comment on column event.artist_or_programme is 'アーティスト・プログラム';
comment on column event.city_code is 'City hosting the event (city.code)';
comment on column event.venue is '会場';
comment on column event.venue_address is '会場住所';
comment on column event.start_date is '開始日; null = unreadable in the source (a cell record in quarantine)';
comment on column event.end_date is '終了日; null = unreadable in the source (a cell record in quarantine)';
comment on column event.open_days is '開催日数 (days the event was open); null = unreadable in the source (a cell record in quarantine)';

create table event_session (
    fiscal_year integer not null,
    id varchar not null,
    event_id varchar not null,
    seq integer not null,
    session_date date not null,
    start_time time,
    end_time time,
    participants integer,
    visitors integer,
    primary key (fiscal_year, id)
);
comment on table event_session is '開催回: one row per workshop session, symposium, or exhibition open day';
comment on column event_session.id is 'event id + "-" + 回';
comment on column event_session.event_id is 'event.id';
comment on column event_session.seq is '回 (session or day number)';
comment on column event_session.session_date is '開催日';
comment on column event_session.start_time is '開始時刻';
comment on column event_session.end_time is '終了時刻';
comment on column event_session.participants is '参加者数 (people taking part; workshops and symposium)';
comment on column event_session.visitors is '来場者数 (exhibition visitors that day)';

create table event_survey_result (
    fiscal_year integer not null,
    event_id varchar not null,
    question varchar not null,
    choice varchar not null,
    choice_order integer not null,
    answers integer not null
);
comment on table event_survey_result is 'アンケート集計: venue survey tallies per choice';
comment on column event_survey_result.event_id is 'event.id';
comment on column event_survey_result.question is '設問';
comment on column event_survey_result.choice is '選択肢';
comment on column event_survey_result.choice_order is '選択肢順 (display order)';
comment on column event_survey_result.answers is '回答数 (people who chose it)';

create table event_comment (
    fiscal_year integer not null,
    id varchar not null,
    event_id varchar not null,
    venue varchar,
    comment varchar not null,
    primary key (fiscal_year, id)
);
comment on table event_comment is '自由記述: free-text survey comments (no personal data)';
comment on column event_comment.id is 'event id + "-C" + row';
comment on column event_comment.event_id is 'event.id';
comment on column event_comment.venue is '会場';
comment on column event_comment.comment is 'コメント';

create table contract (
    fiscal_year integer not null,
    id varchar not null,
    project varchar not null,
    contractor varchar not null,
    amount_yen bigint,
    period_start date not null,
    period_end date not null,
    primary key (fiscal_year, id)
);
comment on table contract is '契約: contracts of the pilot projects';
comment on column contract.id is '契約ID';
comment on column contract.project is '事業名';
comment on column contract.contractor is '発注先';
comment on column contract.amount_yen is '金額 (yen, tax included as contracted); null = unreadable in the source (a cell record in quarantine)';
comment on column contract.period_start is '期間開始 (first day of the month)';
comment on column contract.period_end is '期間終了 (first day of the month)';
