-- イベント実績's session list: one row per workshop session, symposium or exhibition open day with its event's columns, numbered in the page's order, so the page reads its first rows, its count and date span or a few events' sessions without joining and sorting every session
-- grain: id
-- columns:
--   id                    event_session.id
--   event_id              event.id
--   kind                  exhibition, workshop or symposium
--   title                 event title (名称)
--   artist_or_programme   artist or programme (アーティスト・プログラム)
--   city_code             city hosting the event (city.code)
--   venue                 venue (会場)
--   start_date            the event's start date (event.start_date)
--   seq                   回 (session or day number)
--   session_date          開催日
--   start_time            start time; null for an exhibition day
--   end_time              end time; null for an exhibition day
--   participants          参加者数 (workshops and the symposium)
--   visitors              来場者数 (exhibitions)
--   list_order            place in the list (1-based, no ties): session_date, start_time (nulls last), kind (exhibition, workshop, symposium), event_id, seq
with

event as (
    select * from event
),

event_session as (
    select * from event_session
),

city as (
    select * from city
),

final as (
    select
        s.id,
        s.event_id,
        e.kind,
        e.title,
        e.artist_or_programme,
        e.city_code,
        e.venue,
        e.start_date,
        s.seq,
        s.session_date,
        s.start_time,
        s.end_time,
        s.participants,
        s.visitors,
        row_number() over (
            order by
                s.session_date,
                s.start_time nulls last,
                case e.kind when 'exhibition' then 1 when 'workshop' then 2 else 3 end,
                s.event_id,
                s.seq
        ) as list_order
    from event_session as s
    join event as e on e.id = s.event_id
    join city as c on c.code = e.city_code
    order by list_order
)

select * from final
