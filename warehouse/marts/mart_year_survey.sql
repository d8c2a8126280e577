-- the resource survey per 年度 and city: organisations sent the questionnaire, answers and response rate, each year by that year's city of location; city_code null = the four cities together (reads every year; the latest year equals mart_city_kpis)
-- grain: fiscal_year, city_code
-- columns:
--   fiscal_year                年度 (西暦 start year)
--   city_code                  city.code; null = 4市全体 (all four cities)
--   organisations_distributed  organisations that year's survey was sent to (de-duplicated)
--   organisations_answered     of those, organisations that answered that year's survey
--   response_rate_pct          answered / distributed × 100, one decimal; null when none was sent
with

scopes as (
    select * from int_year_scopes
),

organization_year as (
    select * from organization_year
),

counted as (
    select
        fiscal_year,
        city_code,
        count(*) as organisations_distributed,
        count(*) filter (where survey_answered) as organisations_answered
    from organization_year
    group by grouping sets ((fiscal_year, city_code), (fiscal_year))
),

final as (
    select
        s.fiscal_year,
        s.city_code,
        coalesce(c.organisations_distributed, 0) as organisations_distributed,
        coalesce(c.organisations_answered, 0) as organisations_answered,
        case when coalesce(c.organisations_distributed, 0) = 0 then null
             else round(100.0 * c.organisations_answered / c.organisations_distributed, 1)
        end as response_rate_pct
    from scopes as s
    left join counted as c on c.fiscal_year = s.fiscal_year and c.city_code is not distinct from s.city_code
)

select * from final
