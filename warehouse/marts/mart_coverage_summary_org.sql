-- one row per organisation that answered the survey: public contact, its support forms, the areas it serves and the cities that did not know it, labelled in both languages, with the 広域カバレッジ lists' orders; built after mart_coverage_org_form, mart_coverage_reach and mart_coverage_source
-- grain: organization_id
-- columns:
--   organization_id    organization.id
--   name               団体名
--   name_key           matching key, for a stable order among equal names
--   city_code          所在市 (organization.city_code)
--   legal_form_code    法人格 (legal_form.code)
--   phone              the organisation's public phone (never a contact person's)
--   pf_intent_code     PF参画意向 (pf_intent.code)
--   has_pin            it has a map pin (a location row)
--   form_codes         support forms chosen (taxonomy_term.code, report order); null when none
--   forms_ja           those forms' Japanese labels joined with 、; null when none
--   forms_en           those forms' English labels joined with ", "; null when none
--   areas_ja           areas it serves in Japanese joined with 、 (4市以外 last); null without a service area
--   areas_en           areas it serves in English joined with ", " (Outside the four cities last); null without a service area
--   areas_served       mart_coverage_reach.areas_served; null without a service area
--   cities_served      mart_coverage_reach.cities_served; null without a service area
--   serves_outside     mart_coverage_reach.serves_outside; null without a service area
--   reaches_beyond     mart_coverage_reach.reaches_beyond; null without a service area
--   unaware_cities     cities it serves, other than its own, whose distribution list did not carry it (0 when none)
--   unaware_ja         those cities in Japanese joined with 、 (display order); null when none
--   unaware_en         those cities in English joined with ", "; null when none
--   city_rank          order of the organisation lists by city of location (city.sort_order), then name_key, then id
--   candidate_rank     order of the platform-candidate list: city of location, PF参画意向 (pf_intent.sort_order), name_key, id
--   reach_rank         order of the cross-city reach list: areas_served desc, cities_served desc, city of location, name_key, id
with

organization as (
    select * from organization
),

location as (
    select * from location
),

city as (
    select * from city
),

pf_intent as (
    select * from pf_intent
),

taxonomy_term as (
    select * from taxonomy_term
),

mart_coverage_org_form as (
    select * from mart_coverage_org_form
),

mart_coverage_reach as (
    select * from mart_coverage_reach
),

mart_coverage_source as (
    select * from mart_coverage_source
),

-- unordered list() then list_sort: much cheaper than ordered aggregates over a million rows; the first
-- struct field is the display order
chosen_forms as (
    select
        m.organization_id,
        list_sort(list({'sort_order': t.sort_order, 'code': t.code, 'name': t.name, 'name_en': t.name_en})) as forms
    from mart_coverage_org_form as m
    join taxonomy_term as t on t.taxonomy_id = 'form' and t.code = m.form_code
    group by m.organization_id
),

org_forms as (
    select
        organization_id,
        list_transform(forms, lambda f: f.code) as form_codes,
        array_to_string(list_transform(forms, lambda f: f.name), '、') as forms_ja,
        array_to_string(list_transform(forms, lambda f: f.name_en), ', ') as forms_en
    from chosen_forms
),

-- 4市以外 (to_city_code null) sorts after the four cities
served_areas as (
    select
        r.organization_id,
        list_sort(list({
            'outside': c.code is null,
            'sort_order': c.sort_order,
            'name_ja': coalesce(c.name_ja, '4市以外'),
            'name_en': coalesce(c.name_en, 'Outside the four cities')
        })) as areas,
        any_value(r.areas_served) as areas_served,
        any_value(r.cities_served) as cities_served,
        any_value(r.serves_outside) as serves_outside,
        any_value(r.reaches_beyond) as reaches_beyond
    from mart_coverage_reach as r
    left join city as c on c.code = r.to_city_code
    group by r.organization_id
),

org_areas as (
    select
        organization_id,
        array_to_string(list_transform(areas, lambda a: a.name_ja), '、') as areas_ja,
        array_to_string(list_transform(areas, lambda a: a.name_en), ', ') as areas_en,
        areas_served,
        cities_served,
        serves_outside,
        reaches_beyond
    from served_areas
),

-- a city it serves (not its own) whose distribution list did not carry it: that city hall did not know it
unaware_cities as (
    select
        r.organization_id,
        list_sort(list({'sort_order': c.sort_order, 'name_ja': c.name_ja, 'name_en': c.name_en})) as cities
    from mart_coverage_reach as r
    join city as c on c.code = r.to_city_code
    join mart_coverage_source as s on s.organization_id = r.organization_id
    where not r.is_home and not list_contains(s.list_city_codes, r.to_city_code)
    group by r.organization_id
),

unaware as (
    select
        organization_id,
        len(cities) as unaware_cities,
        array_to_string(list_transform(cities, lambda c: c.name_ja), '、') as unaware_ja,
        array_to_string(list_transform(cities, lambda c: c.name_en), ', ') as unaware_en
    from unaware_cities
),

final as (
    select
        o.id as organization_id,
        o.name,
        o.name_key,
        o.city_code,
        o.legal_form_code,
        o.phone,
        o.pf_intent_code,
        exists (select 1 from location as l where l.organization_id = o.id) as has_pin,
        f.form_codes,
        f.forms_ja,
        f.forms_en,
        a.areas_ja,
        a.areas_en,
        a.areas_served,
        a.cities_served,
        a.serves_outside,
        a.reaches_beyond,
        coalesce(u.unaware_cities, 0) as unaware_cities,
        u.unaware_ja,
        u.unaware_en,
        row_number() over (order by c.sort_order, o.name_key, o.id) as city_rank,
        row_number() over (order by c.sort_order, i.sort_order, o.name_key, o.id) as candidate_rank,
        row_number() over (
            order by a.areas_served desc, a.cities_served desc, c.sort_order, o.name_key, o.id
        ) as reach_rank
    from organization as o
    left join city as c on c.code = o.city_code
    left join pf_intent as i on i.code = o.pf_intent_code
    left join org_forms as f on f.organization_id = o.id
    left join org_areas as a on a.organization_id = o.id
    left join unaware as u on u.organization_id = o.id
    where o.survey_answered or o.pf_intent_code is not null
    order by city_rank
)

select * from final
