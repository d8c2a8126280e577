-- intermediate (built before the marts, dropped after them; int_year_*: from every year's stored tables, before the latest-year scope): one row per 年度 of the bundle and scope a year mart gives figures for, each city and the four cities together; read by mart_year_continuity and mart_year_survey
-- grain: fiscal_year, city_code
-- columns:
--   fiscal_year      年度 of the bundle (fiscal_year_bundle)
--   city_code        city.code; null = 4市全体 (all four cities)
with

city as (
    select * from city
),

fiscal_year_bundle as (
    select * from fiscal_year_bundle
),

final as (
    select b.fiscal_year, c.city_code
    from fiscal_year_bundle as b
    cross join (select code as city_code from city union all select null) as c
)

select * from final
