-- one row per organisation on the distribution list: which of the four cities' lists carried it, and whether only one city (or none: 自主調査 only) knew it (広域カバレッジ)
-- grain: organization_id
-- columns:
--   organization_id      organization.id
--   city_code            所在市 (organization.city_code)
--   list_city_codes      cities whose distribution list carried it (city.code, display order); empty when none did
--   city_list_count      how many of the four cities' lists carried it
--   in_own_survey        the survey company's own search (自主調査) carried it
--   known_by             several_cities (two or more city lists), one_city (exactly one city list, with or without 自主調査) or survey_only (no city list, only 自主調査)
--   known_by_city_code   one_city only: the city whose list carried it (city.code); null otherwise
--   list_city_code       the city the organisation belongs to in the single-source list: known_by_city_code, else city_code
--   name                 団体名
--   name_key             matching key, for a stable order among equal names
--   legal_form_code      法人格 (legal_form.code)
--   phone                the organisation's public phone (never a contact person's)
--   survey_answered      whether it answered the resource survey
--   single_rank          order of the single-source list: list_city_code's city order, known_by, city of location, name_key, id
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

known as (
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
        case when len(p.list_city_codes) = 1 then p.list_city_codes[1] end as known_by_city_code,
        o.name,
        o.name_key,
        o.legal_form_code,
        o.phone,
        o.survey_answered
    from organization as o
    left join per_org as p on p.organization_id = o.id
),

final as (
    select
        p.organization_id,
        p.city_code,
        p.list_city_codes,
        p.city_list_count,
        p.in_own_survey,
        p.known_by,
        p.known_by_city_code,
        coalesce(p.known_by_city_code, p.city_code) as list_city_code,
        p.name,
        p.name_key,
        p.legal_form_code,
        p.phone,
        p.survey_answered,
        row_number() over (
            order by g.sort_order, p.known_by, c.sort_order, p.name_key, p.organization_id
        ) as single_rank
    from known as p
    left join city as c on c.code = p.city_code
    left join city as g on g.code = coalesce(p.known_by_city_code, p.city_code)
    order by single_rank
)

select * from final
