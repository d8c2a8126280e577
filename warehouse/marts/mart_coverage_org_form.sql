-- one row per answering organisation and support form it chose, with its city and map pin (広域カバレッジ)
-- grain: organization_id, form_code
-- columns:
--   organization_id   organization.id of an organisation that answered the survey
--   name              団体名
--   name_key          matching key, for a stable order among equal names
--   city_code         所在市 (organization.city_code)
--   legal_form_code   法人格 (legal_form.code)
--   pf_intent_code    PF参画意向 (pf_intent.code)
--   form_code         support form chosen (taxonomy_term.code of taxonomy form)
--   form_order        taxonomy_term.sort_order of the form (the report's order)
--   latitude          map pin latitude, WGS84 degrees (DOUBLE); null without a pin
--   longitude         map pin longitude, WGS84 degrees (DOUBLE); null without a pin
--   city_rank         order of the organisation in lists by city of location (city.sort_order), then name_key, then id (an integer sort)
with

organization as (
    select * from organization
),

int_org_term as (
    select * from int_org_term
),

location as (
    select * from location
),

city as (
    select * from city
),

final as (
    select
        o.id as organization_id,
        o.name,
        o.name_key,
        o.city_code,
        o.legal_form_code,
        o.pf_intent_code,
        c.code as form_code,
        c.sort_order as form_order,
        cast(l.latitude as double) as latitude,
        cast(l.longitude as double) as longitude,
        dense_rank() over (order by y.sort_order, o.name_key, o.id) as city_rank
    from int_org_term as c
    join organization as o on o.id = c.organization_id
    left join location as l on l.organization_id = o.id
    left join city as y on y.code = o.city_code
    where c.taxonomy_id = 'form' and o.survey_answered
    -- Stored by form, then city: a form's rows (the town map's pins and counts) and a matrix cell's rows sit in
    -- a few row groups, which DuckDB's zone maps skip to.
    order by c.code, o.city_code, o.id
)

select * from final
