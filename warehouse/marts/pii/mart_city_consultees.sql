-- sensitive: consultee (相談者) figures of the workshops for each city and for the four cities together (city_code null); a figure is null when the scope held no workshop; read only through warehouse.query for viewers allowed to see them (may_see_consultees)
-- grain: city_code
-- columns:
--   city_code                 city.code of the workshops' host city; null = 4市全体 (all four cities)
--   workshop_consultee_participations  うち相談者数 summed over workshop sessions (延べ); a session without the figure counts 0
--   workshop_unique_consultees  distinct attending 参加者ID whose 区分 is 相談者 (実人数)
--   workshop_consultee_share_pct  workshop_consultee_participations ÷ workshop_participations (mart_event_kpis) × 100, one decimal
with

city as (
    select * from city
),

event as (
    select * from event
),

event_session as (
    select * from event_session
),

session_consultees as (
    select * from pii.event_session_consultees
),

attendance as (
    select * from pii.event_attendance
),

participant as (
    select * from pii.event_participant
),

scopes as (
    select code as city_code from city
    union all
    select null
),

workshops as (
    select
        city_code,
        count(*) as workshops
    from event
    where kind = 'workshop'
    group by grouping sets ((city_code), ())
),

sessions as (
    select
        e.city_code,
        sum(s.participants)::bigint as workshop_participations,
        sum(c.consultees)::bigint as workshop_consultee_participations
    from event_session as s
    join event as e on e.id = s.event_id
    left join session_consultees as c on c.session_id = s.id
    where e.kind = 'workshop'
    group by grouping sets ((e.city_code), ())
),

people as (
    select
        e.city_code,
        count(distinct a.participant_id) as workshop_unique_consultees
    from attendance as a
    join event_session as s on s.id = a.session_id
    join event as e on e.id = s.event_id
    join participant as p on p.participant_id = a.participant_id
    where e.kind = 'workshop' and p.is_consultee
    group by grouping sets ((e.city_code), ())
),

-- Like mart_event_kpis: a scope that held no workshop has no figure (null), not 0.
counted as (
    select
        sc.city_code,
        case when coalesce(w.workshops, 0) > 0 then coalesce(se.workshop_participations, 0) end
            as workshop_participations,
        case when coalesce(w.workshops, 0) > 0 then coalesce(se.workshop_consultee_participations, 0) end
            as workshop_consultee_participations,
        case when coalesce(w.workshops, 0) > 0 then coalesce(pe.workshop_unique_consultees, 0) end
            as workshop_unique_consultees
    from scopes as sc
    left join workshops as w on w.city_code is not distinct from sc.city_code
    left join sessions as se on se.city_code is not distinct from sc.city_code
    left join people as pe on pe.city_code is not distinct from sc.city_code
),

final as (
    select
        city_code,
        workshop_consultee_participations,
        workshop_unique_consultees,
        round(100.0 * workshop_consultee_participations / nullif(workshop_participations, 0), 1)::double
            as workshop_consultee_share_pct
    from counted
)

select * from final
