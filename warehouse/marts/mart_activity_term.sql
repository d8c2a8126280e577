-- one row per answering organisation and taxonomy term it chose (activity category, support form, target group)
-- grain: organization_id, term_id
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

int_org_term as (
    select * from int_org_term
),

final as (
    select
        o.id as organization_id,
        o.city_code,
        o.legal_form_code,
        o.pf_intent_code,
        c.taxonomy_id,
        c.term_id,
        case when c.taxonomy_id = 'content' then c.group_id end as group_id
    from int_org_term as c
    join organization as o on o.id = c.organization_id
    where o.survey_answered
    order by o.id, c.taxonomy_id, c.sort_order
)

select * from final
