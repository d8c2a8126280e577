-- intermediate (built before the marts, dropped after them): one row per participant and event session they attended, with the session's event, its kind and host city (no consultee flag: main marts read it too; int_consultee_attendance keeps the consultees' rows for the pii marts); read by mart_art_totals, mart_event_summary and int_consultee_attendance
-- grain: session_id, participant_id
-- columns:
--   session_id       event_session.id attended
--   participant_id   参加者ID (pii.event_attendance.participant_id, pseudonymous)
--   event_id         event.id of the session
--   kind             the event's kind: exhibition, workshop or symposium
--   city_code        city.code of the event's host city
--   fiscal_year      年度 of the session (the latest year: pii tables are outside the build's year scope, so the join names it)
with

session as (
    select * from int_event_session
),

attendance as (
    select * from pii.event_attendance
),

-- distinct: a person counts once per session however often the 出欠 sheet lists them
final as (
    select distinct
        a.session_id,
        a.participant_id,
        s.event_id,
        s.kind,
        s.city_code,
        s.fiscal_year
    from attendance as a
    join session as s on s.session_id = a.session_id and s.fiscal_year = a.fiscal_year
)

select * from final
