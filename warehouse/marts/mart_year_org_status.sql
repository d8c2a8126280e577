-- continuity per organisation: one row per 年度 and organisation listed that year or the year before it (reads every year; mart_year_continuity counts it, and a page can pick out the organisations new in a year)
-- grain: fiscal_year, organization_id
-- columns:
--   fiscal_year           年度 compared (西暦 start year, 2025 = R7年度)
--   previous_fiscal_year  the bundle's year before it; null for the bundle's first year
--   organization_id       organization.id (the matching key, the same in every year)
--   name                  団体名 as that year's list spells it (the previous year's for one no longer listed)
--   city_code             所在市 that year (the previous year's for one no longer listed)
--   previous_city_code    所在市 in the previous year; null when it was not listed then
--   continuity            continuing (listed both years, however spelled), new (listed this year only), gone (listed the year before, no longer this year) or listed (the bundle's first year: nothing to compare)
with

fiscal_year_bundle as (
    select * from fiscal_year_bundle
),

organization_year as (
    select * from organization_year
),

years as (
    select
        fiscal_year,
        lag(fiscal_year) over (order by fiscal_year) as previous_fiscal_year
    from fiscal_year_bundle
),

listed as (
    select
        y.fiscal_year,
        y.previous_fiscal_year,
        c.organization_id,
        c.name,
        c.city_code,
        p.city_code as previous_city_code,
        case
            when y.previous_fiscal_year is null then 'listed'
            when p.organization_id is null then 'new'
            else 'continuing'
        end as continuity
    from years as y
    join organization_year as c on c.fiscal_year = y.fiscal_year
    left join organization_year as p
        on p.fiscal_year = y.previous_fiscal_year and p.organization_id = c.organization_id
),

gone as (
    select
        y.fiscal_year,
        y.previous_fiscal_year,
        p.organization_id,
        p.name,
        p.city_code,
        p.city_code as previous_city_code,
        'gone' as continuity
    from years as y
    join organization_year as p on p.fiscal_year = y.previous_fiscal_year
    anti join organization_year as c on c.fiscal_year = y.fiscal_year and c.organization_id = p.organization_id
),

final as (
    select * from listed
    union all
    select * from gone
)

select * from final
