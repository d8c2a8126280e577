-- one row per answering organisation and taxonomy term it chose (activity category, support form, target group)
-- columns:
--   organization_id   organization.id of an organisation that answered the survey
--   city_code         所在市 from the distribution list (organization.city_code), as on the map
--   legal_form_code   法人格 (legal_form.code)
--   pf_intent_code    PF参画意向 (pf_intent.code)
--   taxonomy_id       content, form or target
--   term_id           taxonomy_term.id chosen (for content: the category)
--   group_id          content only: the category's group (taxonomy_term.parent_id); null for forms and targets
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

-- distinct: an organisation counts once per term however its answer spelled it
chosen as (
    select distinct
        s.organization_id,
        a.link_type as taxonomy_id,
        a.taxonomy_term_id as term_id
    from attribute as a
    join service as s on s.id = a.link_id
    where a.link_entity = 'service'
),

final as (
    select
        o.id as organization_id,
        o.city_code,
        o.legal_form_code,
        o.pf_intent_code,
        c.taxonomy_id,
        c.term_id,
        case when c.taxonomy_id = 'content' then t.parent_id end as group_id
    from chosen as c
    join organization as o on o.id = c.organization_id
    join taxonomy_term as t on t.id = c.term_id
    where o.survey_answered
    order by o.id, c.taxonomy_id, t.sort_order
)

select * from final
