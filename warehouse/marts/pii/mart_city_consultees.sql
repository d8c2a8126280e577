-- sensitive: consultee (相談者) figures of the workshops for each city and for the four cities together (city_code null); a figure is null when the scope held no workshop; read only through warehouse.query for viewers allowed to see them (may_see_consultees)
-- grain: city_code
-- columns:
--   city_code                 city.code of the workshops' host city; null = 4市全体 (all four cities)
--   workshop_consultee_participations  うち相談者数 summed over workshop sessions (延べ); a session without the figure counts 0
--   workshop_unique_consultees  distinct attending 参加者ID whose 区分 is 相談者 (実人数)
--   workshop_consultee_share_pct  workshop_consultee_participations ÷ workshop_participations (mart_event_kpis) × 100, one decimal
with

-- The scopes (every city and the four together), their workshops and participations, counted once there.
totals as (
    select * from mart_art_totals
),

event_consultees as (
    select * from pii.mart_event_consultees
),

attendance as (
    select * from int_event_attendance
),

participant as (
    select * from pii.event_participant
),

-- Each workshop's うち相談者数 is already summed over its sessions; a scope adds up its workshops.
sessions as (
    select
        city_code,
        sum(consultee_participations)::bigint as workshop_consultee_participations
    from event_consultees
    where kind = 'workshop'
    group by grouping sets ((city_code), ())
),

people as (
    select
        a.city_code,
        count(distinct a.participant_id) as workshop_unique_consultees
    from attendance as a
    join participant as p on p.participant_id = a.participant_id and p.fiscal_year = a.fiscal_year
    where a.kind = 'workshop' and p.is_consultee
    group by grouping sets ((a.city_code), ())
),

-- Like mart_event_kpis: a scope that held no workshop has no figure (null), not 0.
counted as (
    select
        t.city_code,
        case when t.workshops > 0 then coalesce(t.workshop_participations, 0) end as workshop_participations,
        case when t.workshops > 0 then coalesce(se.workshop_consultee_participations, 0) end
            as workshop_consultee_participations,
        case when t.workshops > 0 then coalesce(pe.workshop_unique_consultees, 0) end
            as workshop_unique_consultees
    from totals as t
    left join sessions as se on se.city_code is not distinct from t.city_code
    left join people as pe on pe.city_code is not distinct from t.city_code
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
