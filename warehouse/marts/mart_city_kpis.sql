-- one row per city plus one row for the four cities together (city_code null)
-- columns:
--   city_code                 city.code; null = 4市全体 (all four cities)
--   organisations_distributed organisations the survey was sent to (de-duplicated), by city of location
--   organisations_answered    of those, organisations that answered
--   response_rate_pct         answered / distributed × 100, one decimal
--   organisations_mapped      organisations with a pin on the resource map
--   exhibition_visitors       exhibition visitors at venues in the city
--   exhibition_open_days      exhibition open days at venues in the city
--   workshop_participations   workshop participants summed over sessions (one person, several sessions = several)
--   workshop_unique_participants  distinct people over the workshop sessions held in the city
--   symposium_participants    symposium attendance
with

organization as (
    select * from organization
),

location as (
    select * from location
),

event as (
    select * from event
),

event_session as (
    select * from event_session
),

attendance as (
    select * from pii.event_attendance
),

orgs as (
    select
        o.city_code,
        count(*) as organisations_distributed,
        count(*) filter (where o.survey_answered) as organisations_answered,
        count(distinct l.organization_id) as organisations_mapped
    from organization as o
    left join location as l on l.organization_id = o.id
    group by grouping sets ((o.city_code), ())
),

sessions as (
    select
        e.city_code,
        coalesce(sum(s.visitors) filter (where e.kind = 'exhibition'), 0) as exhibition_visitors,
        count(*) filter (where e.kind = 'exhibition') as exhibition_open_days,
        coalesce(sum(s.participants) filter (where e.kind = 'workshop'), 0) as workshop_participations,
        coalesce(sum(s.participants) filter (where e.kind = 'symposium'), 0) as symposium_participants
    from event_session as s
    join event as e on e.id = s.event_id
    group by grouping sets ((e.city_code), ())
),

unique_people as (
    select
        e.city_code,
        count(distinct a.participant_id) as workshop_unique_participants
    from attendance as a
    join event_session as s on s.id = a.session_id
    join event as e on e.id = s.event_id
    where e.kind = 'workshop'
    group by grouping sets ((e.city_code), ())
),

cities as (
    select code as city_code from city
    union all
    select null
),

final as (
    select
        c.city_code,
        coalesce(o.organisations_distributed, 0) as organisations_distributed,
        coalesce(o.organisations_answered, 0) as organisations_answered,
        case when coalesce(o.organisations_distributed, 0) = 0 then null
             else round(100.0 * o.organisations_answered / o.organisations_distributed, 1)
        end as response_rate_pct,
        coalesce(o.organisations_mapped, 0) as organisations_mapped,
        coalesce(s.exhibition_visitors, 0) as exhibition_visitors,
        coalesce(s.exhibition_open_days, 0) as exhibition_open_days,
        coalesce(s.workshop_participations, 0) as workshop_participations,
        coalesce(u.workshop_unique_participants, 0) as workshop_unique_participants,
        coalesce(s.symposium_participants, 0) as symposium_participants
    from cities as c
    left join orgs as o on o.city_code is not distinct from c.city_code
    left join sessions as s on s.city_code is not distinct from c.city_code
    left join unique_people as u on u.city_code is not distinct from c.city_code
)

select * from final
