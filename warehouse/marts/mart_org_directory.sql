-- one row per organisation on the distribution list: map pin, taxonomy terms, service area and its colour on the support gradient (地域資源マップ); no personal data
-- grain: organization_id
-- columns:
--   organization_id       organization.id
--   name                  団体名
--   name_key              matching key, for a stable order among equal names
--   legal_form_code       法人格 (legal_form.code)
--   city_code             所在市 (organization.city_code)
--   address               public street address: the map pin's, else the distribution list's
--   phone                 the organisation's public phone (never a contact person's)
--   fax                   FAX number
--   survey_answered       whether it answered the resource survey
--   survey_status         answered or not_answered (the map's survey facet)
--   pf_intent_code        PF参画意向 (pf_intent.code); null when it did not answer
--   latitude              map pin latitude, WGS84 degrees (DOUBLE); null without a pin
--   longitude             map pin longitude, WGS84 degrees (DOUBLE); null without a pin
--   pin_hours             活動時間 on the map pin
--   last_verified         最終確認日 of the pin; null without a pin
--   map_layer             My Maps layer the pin came from
--   hours                 活動日時 from the survey, else 活動時間 on the pin
--   languages             対応言語, joined with 、 (survey)
--   accessibility         バリアフリー対応, joined with 、 (survey)
--   content_codes         activity-content categories chosen (taxonomy_term.code, taxonomy order); empty without an answer
--   content_group_codes   content groups of those categories (taxonomy order); empty without an answer
--   form_codes            support forms chosen (taxonomy order); empty without an answer
--   target_codes          target groups chosen (taxonomy order); empty without an answer
--   area_city_codes       service area: the four cities it serves (city.code, display order); empty without an answer
--   serves_outside        its service area includes 4市以外 (outside the four cities)
--   contents_ja           contents as 「分野：カテゴリ」 in Japanese (list)
--   contents_en           contents as "field: category" in English (list)
--   forms_ja              support forms in Japanese (list, report order)
--   forms_en              support forms in English (list)
--   targets_ja            target groups in Japanese (list)
--   targets_en            target groups in English (list)
--   area_ja               service area in Japanese (list; 4市以外 last)
--   area_en               service area in English (list; Outside the four cities last)
--   primary_form_code     the chosen form lowest on the report's gradient (1 アウトリーチ … 7 安全に時間を過ごせる場所); null when none is on it
--   gradient_rank         taxonomy_term.gradient_rank of primary_form_code
--   legend_group          map colour group: primary_form_code, off_gradient (answered, no form on the gradient) or no_answer
--   colour_hex            map colour (#rrggbb): the primary form's colour, grey off the gradient, light grey without an answer
--   cell_q                density hexagon of the pin (axial column q of the flat-top grid of hex_metres() radius, warehouse/macros.sql hex_cell); null without a pin
--   cell_r                density hexagon of the pin (axial row r); null without a pin
--   profile_id            its facet profile (mart_directory_profile.profile_id): filters are decided once per profile; null without a pin
with

organization as (
    select * from organization
),

location as (
    select * from location
),

service as (
    select * from service
),

service_area as (
    select * from service_area
),

taxonomy_term as (
    select * from taxonomy_term
),

city as (
    select * from city
),

mart_directory_profile as (
    select * from mart_directory_profile
),

terms as (
    select * from int_org_term
),

-- The chosen terms are sorted per organisation after grouping (list_sort of structs led by sort_order, which no two
-- chosen terms share): an ordered aggregate (list(… order by …)) sorts inside the hash aggregate, ~15 % more CPU at 1M.
contents as (
    select
        organization_id,
        list_transform(chosen, lambda t: t.code) as content_codes,
        list_transform(chosen, lambda t: t.ja) as contents_ja,
        list_transform(chosen, lambda t: t.en) as contents_en
    from (
        select
            organization_id,
            list_sort(
                list({
                    'sort_order': sort_order,
                    'code': code,
                    'ja': group_name || '：' || name,
                    'en': group_name_en || ': ' || name_en
                })
            ) as chosen
        from terms
        where taxonomy_id = 'content'
        group by organization_id
    )
),

content_groups as (
    select
        organization_id,
        list(group_code order by group_order) as content_group_codes
    from (select distinct organization_id, group_code, group_order from terms where taxonomy_id = 'content')
    group by organization_id
),

-- Forms and targets are listed alike: codes and both labels in the taxonomy's order (only forms have a gradient).
term_lists as (
    select
        organization_id,
        taxonomy_id,
        list_transform(chosen, lambda t: t.code) as codes,
        list_transform(chosen, lambda t: t.name) as names_ja,
        list_transform(chosen, lambda t: t.name_en) as names_en,
        primary_form_code,
        gradient_rank
    from (
        select
            organization_id,
            taxonomy_id,
            list_sort(list({'sort_order': sort_order, 'code': code, 'name': name, 'name_en': name_en})) as chosen,
            arg_min(code, gradient_rank) filter (where gradient_rank is not null) as primary_form_code,
            min(gradient_rank) as gradient_rank
        from terms
        where taxonomy_id in ('form', 'target')
        group by organization_id, taxonomy_id
    )
),

forms as (
    select * from term_lists where taxonomy_id = 'form'
),

targets as (
    select * from term_lists where taxonomy_id = 'target'
),

-- Density hexagons (warehouse/macros.sql hex_cell), computed once here so the map aggregates by integer cell.
cells as (
    select organization_id, cell.q as cell_q, cell.r as cell_r
    from (select organization_id, hex_cell(latitude, longitude) as cell from location)
),

-- 4市以外 (city_code null) sorts after the four cities
areas as (
    select
        s.organization_id,
        coalesce(list(sa.city_code order by c.sort_order) filter (where sa.city_code is not null), []) as area_city_codes,
        bool_or(sa.city_code is null) as serves_outside,
        list(coalesce(c.name_ja, '4市以外') order by c.sort_order nulls last) as area_ja,
        list(coalesce(c.name_en, 'Outside the four cities') order by c.sort_order nulls last) as area_en
    from service_area as sa
    join service as s on s.id = sa.service_id
    left join city as c on c.code = sa.city_code
    group by s.organization_id
),

directory as (
    select
        o.id as organization_id,
        o.name,
        o.name_key,
        o.legal_form_code,
        o.city_code,
        coalesce(l.address, o.address) as address,
        o.phone,
        o.fax,
        o.survey_answered,
        case when o.survey_answered then 'answered' else 'not_answered' end as survey_status,
        o.pf_intent_code,
        cast(l.latitude as double) as latitude,
        cast(l.longitude as double) as longitude,
        l.hours as pin_hours,
        l.last_verified,
        l.map_layer,
        coalesce(s.hours, l.hours) as hours,
        s.languages,
        s.accessibility,
        coalesce(c.content_codes, []) as content_codes,
        coalesce(g.content_group_codes, []) as content_group_codes,
        coalesce(f.codes, []) as form_codes,
        coalesce(t.codes, []) as target_codes,
        coalesce(a.area_city_codes, []) as area_city_codes,
        coalesce(a.serves_outside, false) as serves_outside,
        coalesce(c.contents_ja, []) as contents_ja,
        coalesce(c.contents_en, []) as contents_en,
        coalesce(f.names_ja, []) as forms_ja,
        coalesce(f.names_en, []) as forms_en,
        coalesce(t.names_ja, []) as targets_ja,
        coalesce(t.names_en, []) as targets_en,
        coalesce(a.area_ja, []) as area_ja,
        coalesce(a.area_en, []) as area_en,
        f.primary_form_code,
        f.gradient_rank,
        case
            when f.primary_form_code is not null then f.primary_form_code
            when o.survey_answered then 'off_gradient'
            else 'no_answer'
        end as legend_group,
        case
            when f.primary_form_code is not null then p.color_hex
            when o.survey_answered then '#8c8c8c'
            else '#c8c8c8'
        end as colour_hex,
        x.cell_q,
        x.cell_r
    from organization as o
    left join location as l on l.organization_id = o.id
    left join service as s on s.organization_id = o.id
    left join contents as c on c.organization_id = o.id
    left join content_groups as g on g.organization_id = o.id
    left join forms as f on f.organization_id = o.id
    left join targets as t on t.organization_id = o.id
    left join areas as a on a.organization_id = o.id
    left join taxonomy_term as p on p.taxonomy_id = 'form' and p.code = f.primary_form_code
    left join cells as x on x.organization_id = o.id
),

-- the profile holds the same codes, sorted
final as (
    select d.*, p.profile_id
    from directory as d
    left join mart_directory_profile as p
        on d.latitude is not null
        and p.city_code is not distinct from d.city_code
        and p.legal_form_code is not distinct from d.legal_form_code
        and p.pf_intent_code is not distinct from d.pf_intent_code
        and p.survey_status = d.survey_status
        and p.content_group_codes = list_sort(d.content_group_codes)
        and p.content_codes = list_sort(d.content_codes)
        and p.form_codes = list_sort(d.form_codes)
        and p.target_codes = list_sort(d.target_codes)
    order by d.city_code, d.name_key
)

select * from final
