-- intermediate (built before the marts, dropped after them): one row per event session with its event's kind and host city; read by int_event_attendance and mart_art_totals
-- grain: session_id
-- columns:
--   session_id       event_session.id
--   event_id         event.id of the session
--   kind             the event's kind: exhibition, workshop or symposium
--   city_code        city.code of the event's host city
--   fiscal_year      年度 of the session
--   visitors         来場者数 of the session (exhibitions)
--   participants     参加者数 of the session (workshops and the symposium)
with

event as (
    select * from event
),

event_session as (
    select * from event_session
),

final as (
    select
        s.id as session_id,
        s.event_id,
        e.kind,
        e.city_code,
        s.fiscal_year,
        s.visitors,
        s.participants
    from event_session as s
    join event as e on e.id = s.event_id
)

select * from final
