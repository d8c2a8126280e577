-- answering organisations per city of location and area served (広域カバレッジ flow); built after mart_coverage_reach
-- grain: from_city_code, to_city_code
-- columns:
--   from_city_code   所在市: city where the organisations are located (organization.city_code)
--   to_city_code     an area they serve (city.code); null = 4市以外 (outside the four cities)
--   orgs             distinct organisations located in from_city_code that serve to_city_code
with

mart_coverage_reach as (
    select * from mart_coverage_reach
),

final as (
    select
        from_city_code,
        to_city_code,
        count(distinct organization_id) as orgs
    from mart_coverage_reach
    group by all
    order by from_city_code, to_city_code nulls last
)

select * from final
