-- one row per city: cross-city reach and single-source counts of 広域カバレッジ; built after mart_coverage_reach and mart_coverage_source
-- grain: city_code
-- columns:
--   city_code                  city.code
--   orgs                       answering organisations located there that have a service area
--   reaching_beyond            of those, organisations whose service area goes beyond the city (mart_coverage_reach.reaches_beyond)
--   inbound                    organisations located in another city (or none of the four) whose service area includes this city
--   listed                     organisations the city's distribution list carried
--   only_this_list             organisations only this city's list carried (known_by one_city)
--   only_this_list_elsewhere   of those, organisations located in another city
--   survey_only                organisations located there that only 自主調査 found (known_by survey_only)
with

city as (
    select * from city
),

mart_coverage_reach as (
    select * from mart_coverage_reach
),

mart_coverage_source as (
    select * from mart_coverage_source
),

orgs as (
    select distinct organization_id, from_city_code, reaches_beyond
    from mart_coverage_reach
),

located as (
    select
        from_city_code as city_code,
        count(*) as orgs,
        count(*) filter (where reaches_beyond) as reaching_beyond
    from orgs
    group by all
),

inbound as (
    select
        to_city_code as city_code,
        count(distinct organization_id) as inbound
    from mart_coverage_reach
    where not is_home and to_city_code is not null
    group by all
),

listed as (
    select
        city_code,
        count(distinct organization_id) as listed
    from (select unnest(list_city_codes) as city_code, organization_id from mart_coverage_source)
    group by all
),

only_list as (
    select
        known_by_city_code as city_code,
        count(*) as only_this_list,
        count(*) filter (where city_code <> known_by_city_code) as only_this_list_elsewhere
    from mart_coverage_source
    where known_by = 'one_city'
    group by all
),

survey as (
    select
        city_code,
        count(*) as survey_only
    from mart_coverage_source
    where known_by = 'survey_only'
    group by all
),

final as (
    select
        c.code as city_code,
        coalesce(l.orgs, 0) as orgs,
        coalesce(l.reaching_beyond, 0) as reaching_beyond,
        coalesce(i.inbound, 0) as inbound,
        coalesce(s.listed, 0) as listed,
        coalesce(o.only_this_list, 0) as only_this_list,
        coalesce(o.only_this_list_elsewhere, 0) as only_this_list_elsewhere,
        coalesce(v.survey_only, 0) as survey_only
    from city as c
    left join located as l on l.city_code = c.code
    left join inbound as i on i.city_code = c.code
    left join listed as s on s.city_code = c.code
    left join only_list as o on o.city_code = c.code
    left join survey as v on v.city_code = c.code
    order by c.sort_order
)

select * from final
