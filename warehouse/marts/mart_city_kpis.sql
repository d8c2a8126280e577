-- home figures: one row per city plus one row for the four cities together (city_code null); event figures come from mart_art_totals
-- grain: city_code
-- columns:
--   city_code                 city.code; null = 4市全体 (all four cities)
--   organisations_distributed organisations the survey was sent to (de-duplicated), by city of location
--   organisations_answered    of those, organisations that answered
--   response_rate_pct         answered / distributed × 100, one decimal
--   organisations_mapped      organisations with a pin on the resource map
--   exhibition_visitors       mart_art_totals.exhibition_visitors, 0 when none
--   exhibition_open_days      mart_art_totals.exhibition_open_days (開催日数 summed), 0 when none; null (unknown) when an exhibition's 開催日数 is null (unreadable in the source)
--   workshop_participations   mart_art_totals.workshop_participations (延べ), 0 when none
--   workshop_unique_participants  mart_art_totals.workshop_unique_participants (実人数), 0 when none
--   symposium_participants    mart_art_totals.symposium_participants, 0 when none
with

city as (
    select * from city
),

organization as (
    select * from organization
),

location as (
    select * from location
),

totals as (
    select * from mart_art_totals
),

-- Exhibitions whose 開催日数 was unreadable (null): the summed open days would leave them out.
unknown_days as (
    select * from int_event_days_unknown
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
        coalesce(t.exhibition_visitors, 0) as exhibition_visitors,
        case when coalesce(u.exhibitions_days_unknown, 0) = 0 then coalesce(t.exhibition_open_days, 0) end
            as exhibition_open_days,
        coalesce(t.workshop_participations, 0) as workshop_participations,
        coalesce(t.workshop_unique_participants, 0) as workshop_unique_participants,
        coalesce(t.symposium_participants, 0) as symposium_participants
    from cities as c
    left join orgs as o on o.city_code is not distinct from c.city_code
    left join totals as t on t.city_code is not distinct from c.city_code
    left join unknown_days as u on u.city_code is not distinct from c.city_code
)

select * from final
