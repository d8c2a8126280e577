-- 活動分布's term counts per filter cell: answering organisations per (city, legal form, PF intent) and term, computed once at build
-- columns:
--   city_code         所在市 (organization.city_code)
--   legal_form_code   法人格 (legal_form.code); null when not recorded
--   pf_intent_code    PF参画意向 (pf_intent.code)
--   target_id         null: all organisations of the cell; else only those that chose this target group (taxonomy_term.id)
--   taxonomy_id       group (content field), content (content category), form or target
--   term_id           taxonomy_term.id counted (for group: the field; for content: the category)
--   orgs              answering organisations of the cell with that term (each once); cells do not overlap, so sums are exact
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

-- as mart_activity_term: an organisation counts once per term however its answer spelled it
chosen as (
    select distinct
        s.organization_id,
        a.link_type as taxonomy_id,
        a.taxonomy_term_id as term_id
    from attribute as a
    join service as s on s.id = a.link_id
    join taxonomy_term as t on t.id = a.taxonomy_term_id
    where a.link_entity = 'service'
),

terms as (
    select c.organization_id, c.taxonomy_id, c.term_id from chosen as c
    union all
    -- a content category's field, once per organisation
    select distinct c.organization_id, 'group', t.parent_id
    from chosen as c
    join taxonomy_term as t on t.id = c.term_id
    where c.taxonomy_id = 'content'
),

answering as (
    select id, city_code, legal_form_code, pf_intent_code from organization where survey_answered
),

-- the target groups each organisation chose, for the breakdown by target group
targets as (
    select organization_id, term_id as target_id from chosen where taxonomy_id = 'target'
),

final as (
    select o.city_code, o.legal_form_code, o.pf_intent_code, null::varchar as target_id, m.taxonomy_id, m.term_id, count(*) as orgs
    from terms as m
    join answering as o on o.id = m.organization_id
    group by all
    union all
    select o.city_code, o.legal_form_code, o.pf_intent_code, g.target_id, m.taxonomy_id, m.term_id, count(*)
    from terms as m
    join answering as o on o.id = m.organization_id
    join targets as g on g.organization_id = m.organization_id
    where m.taxonomy_id in ('group', 'form')
    group by all
    order by all
)

select * from final
