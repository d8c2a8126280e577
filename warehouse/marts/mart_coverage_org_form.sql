-- one row per answering organisation and support form it chose, with its city and map pin (広域カバレッジ)
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

service as (
    select * from service
),

attribute as (
    select * from attribute
),

taxonomy_term as (
    select * from taxonomy_term
),

location as (
    select * from location
),

city as (
    select * from city
),

-- distinct: an organisation counts once per form however its answer spelled it
chosen as (
    select distinct
        s.organization_id,
        a.taxonomy_term_id as term_id
    from attribute as a
    join service as s on s.id = a.link_id
    where a.link_entity = 'service' and a.link_type = 'form'
),

final as (
    select
        o.id as organization_id,
        o.name,
        o.name_key,
        o.city_code,
        o.legal_form_code,
        o.pf_intent_code,
        t.code as form_code,
        t.sort_order as form_order,
        cast(l.latitude as double) as latitude,
        cast(l.longitude as double) as longitude,
        dense_rank() over (order by y.sort_order, o.name_key, o.id) as city_rank
    from chosen as c
    join organization as o on o.id = c.organization_id
    join taxonomy_term as t on t.id = c.term_id and t.taxonomy_id = 'form'
    left join location as l on l.organization_id = o.id
    left join city as y on y.code = o.city_code
    where o.survey_answered
    order by o.id, t.sort_order
)

select * from final
