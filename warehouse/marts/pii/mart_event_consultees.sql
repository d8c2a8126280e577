-- sensitive: consultee (相談者) figures per art-project event; read only through warehouse.query for viewers allowed to see them (may_see_consultees); pii.mart_city_consultees adds its workshops up per city
-- grain: event_id
-- columns:
--   event_id                  event.id
--   city_code                 city hosting the event (city.code)
--   kind                      exhibition, workshop or symposium
--   consultee_participations  うち相談者数 summed over sessions (延べ); null for exhibitions and when not recorded
--   unique_consultees         workshops: distinct attending 参加者ID whose 区分 is 相談者 (実人数); null for other kinds
with

event as (
    select * from event
),

event_session as (
    select * from event_session
),

session_consultees as (
    select * from pii.event_session_consultees
),

consultees as (
    select * from int_consultee_attendance
),

sessions as (
    select
        s.event_id,
        sum(c.consultees)::bigint as consultee_participations
    from session_consultees as c
    join event_session as s on s.id = c.session_id and s.fiscal_year = c.fiscal_year
    group by s.event_id
),

people as (
    select
        event_id,
        count(distinct participant_id) as unique_consultees
    from consultees
    group by event_id
),

final as (
    select
        e.id as event_id,
        e.city_code,
        e.kind,
        case when e.kind <> 'exhibition' then s.consultee_participations end as consultee_participations,
        case when e.kind = 'workshop' then coalesce(p.unique_consultees, 0) end as unique_consultees
    from event as e
    left join sessions as s on s.event_id = e.id
    left join people as p on p.event_id = e.id
)

select * from final
