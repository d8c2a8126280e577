-- intermediate (built before the marts, dropped after them): the rows of int_event_attendance whose participant is a consultee (相談者: pii.event_participant.is_consultee); read by pii.mart_city_consultees and pii.mart_event_consultees
-- grain: session_id, participant_id
-- columns:
--   session_id       event_session.id attended
--   participant_id   参加者ID of a consultee (pii.event_attendance.participant_id, pseudonymous)
--   event_id         event.id of the session
--   kind             the event's kind: exhibition, workshop or symposium
--   city_code        city.code of the event's host city
--   fiscal_year      年度 of the session (int_event_attendance's; the participant is matched within that year)
with

attendance as (
    select * from int_event_attendance
),

participant as (
    select * from pii.event_participant
),

final as (
    select a.*
    from attendance as a
    join participant as p on p.participant_id = a.participant_id and p.fiscal_year = a.fiscal_year
    where p.is_consultee
)

select * from final
