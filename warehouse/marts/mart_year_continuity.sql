-- continuity per 年度 and city: organisations continuing from the bundle's previous year, new and no longer listed, counted from mart_year_org_status; city_code null = the four cities together (reads every year)
-- grain: fiscal_year, city_code
-- columns:
--   fiscal_year           年度 (西暦 start year)
--   previous_fiscal_year  the bundle's year before it; null for the first year (then every organisation is listed, none continuing, new or gone)
--   city_code             city.code; null = 4市全体 (all four cities)
--   organisations_listed  organisations that year's distribution lists carry, by that year's city
--   continuing            of those, organisations the previous year also listed (renamed spellings of one matching key included)
--   new                   of those, organisations the previous year did not list
--   gone                  organisations the previous year listed and this year does not, by their previous city
--   moved_in              continuing organisations whose city changed to this one (4市全体: every organisation that changed city)
--   moved_out             continuing organisations whose city changed from this one (4市全体: every organisation that changed city)
with

scopes as (
    select * from int_year_scopes
),

org_status as (
    select * from mart_year_org_status
),

by_city as (
    select
        fiscal_year,
        city_code,
        count(*) filter (where continuity <> 'gone') as organisations_listed,
        count(*) filter (where continuity = 'continuing') as continuing,
        count(*) filter (where continuity = 'new') as new,
        count(*) filter (where continuity = 'gone') as gone,
        count(*) filter (where continuity = 'continuing' and city_code <> previous_city_code) as moved_in
    from org_status
    group by grouping sets ((fiscal_year, city_code), (fiscal_year))
),

moved_out as (
    select
        fiscal_year,
        previous_city_code as city_code,
        count(*) as moved_out
    from org_status
    where continuity = 'continuing' and city_code <> previous_city_code
    group by grouping sets ((fiscal_year, previous_city_code), (fiscal_year))
),

previous as (
    select fiscal_year, max(previous_fiscal_year) as previous_fiscal_year
    from org_status
    group by fiscal_year
),

final as (
    select
        s.fiscal_year,
        p.previous_fiscal_year,
        s.city_code,
        coalesce(b.organisations_listed, 0) as organisations_listed,
        coalesce(b.continuing, 0) as continuing,
        coalesce(b.new, 0) as new,
        coalesce(b.gone, 0) as gone,
        coalesce(b.moved_in, 0) as moved_in,
        coalesce(m.moved_out, 0) as moved_out
    from scopes as s
    left join by_city as b on b.fiscal_year = s.fiscal_year and b.city_code is not distinct from s.city_code
    left join moved_out as m on m.fiscal_year = s.fiscal_year and m.city_code is not distinct from s.city_code
    left join previous as p on p.fiscal_year = s.fiscal_year
)

select * from final
