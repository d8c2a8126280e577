-- 活動分布's term counts per filter cell: answering organisations per (city, legal form, PF intent) and term, computed once at build from mart_activity_term
-- grain: city_code, legal_form_code, pf_intent_code, target_id, taxonomy_id, term_id
-- columns:
--   city_code         所在市 (organization.city_code)
--   legal_form_code   法人格 (legal_form.code); null when not recorded
--   pf_intent_code    PF参画意向 (pf_intent.code)
--   target_id         null: all organisations of the cell; else only those that chose this target group (taxonomy_term.id)
--   taxonomy_id       group (content field), content (content category), form or target
--   term_id           taxonomy_term.id counted (for group: the field; for content: the category)
--   orgs              answering organisations of the cell with that term (each once); cells do not overlap, so sums are exact
with

term as (
    select * from mart_activity_term
),

terms as (
    select organization_id, city_code, legal_form_code, pf_intent_code, taxonomy_id, term_id from term
    union all
    -- a content category's field, once per organisation
    select distinct organization_id, city_code, legal_form_code, pf_intent_code, 'group', group_id
    from term
    where taxonomy_id = 'content'
),

-- the target groups each organisation chose, for the breakdown by target group
targets as (
    select organization_id, term_id as target_id from term where taxonomy_id = 'target'
),

final as (
    select m.city_code, m.legal_form_code, m.pf_intent_code, null::varchar as target_id, m.taxonomy_id, m.term_id, count(*) as orgs
    from terms as m
    group by all
    union all
    select m.city_code, m.legal_form_code, m.pf_intent_code, g.target_id, m.taxonomy_id, m.term_id, count(*)
    from terms as m
    join targets as g on g.organization_id = m.organization_id
    where m.taxonomy_id in ('group', 'form')
    group by all
    order by all
)

select * from final
