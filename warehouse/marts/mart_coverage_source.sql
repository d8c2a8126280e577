-- one row per organisation on the distribution list: which of the four cities' lists carried it, and whether only one city (or none: 自主調査 only) knew it (広域カバレッジ)
-- columns:
--   organization_id      organization.id
--   city_code            所在市 (organization.city_code)
--   list_city_codes      cities whose distribution list carried it (city.code, display order); empty when none did
--   city_list_count      how many of the four cities' lists carried it
--   in_own_survey        the survey company's own search (自主調査) carried it
--   known_by             several_cities (two or more city lists), one_city (exactly one city list, with or without 自主調査) or survey_only (no city list, only 自主調査)
--   known_by_city_code   one_city only: the city whose list carried it (city.code); null otherwise
with

organization as (
    select * from organization
),

organization_source as (
    select * from organization_source
),

city as (
    select * from city
),

-- a list is a city's when its sheet name is the city's name (座間市, 綾瀬市, 大和市, 海老名市)
lists as (
    select distinct
        s.organization_id,
        c.code as list_city_code,
        c.sort_order,
        s.source_list = '自主調査' as is_own_survey
    from organization_source as s
    left join city as c on c.name_ja = s.source_list
),

per_org as (
    select
        organization_id,
        coalesce(
            list(list_city_code order by sort_order) filter (where list_city_code is not null), []::varchar[]
        ) as list_city_codes,
        bool_or(is_own_survey) as in_own_survey
    from lists
    group by organization_id
),

final as (
    select
        o.id as organization_id,
        o.city_code,
        coalesce(p.list_city_codes, []::varchar[]) as list_city_codes,
        len(coalesce(p.list_city_codes, []::varchar[])) as city_list_count,
        coalesce(p.in_own_survey, false) as in_own_survey,
        case len(coalesce(p.list_city_codes, []::varchar[]))
            when 0 then 'survey_only'
            when 1 then 'one_city'
            else 'several_cities'
        end as known_by,
        case when len(p.list_city_codes) = 1 then p.list_city_codes[1] end as known_by_city_code
    from organization as o
    left join per_org as p on p.organization_id = o.id
    order by o.id
)

select * from final
