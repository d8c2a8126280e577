-- intermediate (built before the marts, dropped after them; int_year_*: from every year's stored tables, before the latest-year scope): int_org_term per 年度, one row per organisation and taxonomy term its survey answer chose that year; read by mart_year_coverage, mart_year_mix and (its latest year) int_org_term
-- grain: fiscal_year, organization_id, term_id
-- columns:
--   fiscal_year       年度 of the answer (service.fiscal_year)
--   organization_id   organization.id of the answering organisation (through service.organization_id)
--   taxonomy_id       content, form or target (attribute.link_type)
--   term_id           taxonomy_term.id chosen (for content: the category)
--   code              taxonomy_term.code
--   group_id          the term's parent (taxonomy_term.parent_id: a content category's group); null at the top level
with

service as (
    select * from service
),

attribute as (
    select * from attribute
),

taxonomy_term as (
    select * from taxonomy_term
),

-- distinct: an organisation has a term once a year however its answer spelled it
chosen as (
    select distinct
        a.fiscal_year,
        s.organization_id,
        a.link_type as taxonomy_id,
        a.taxonomy_term_id as term_id
    from attribute as a
    join service as s on s.fiscal_year = a.fiscal_year and s.id = a.link_id
    where a.link_entity = 'service'
),

final as (
    select
        c.fiscal_year,
        c.organization_id,
        c.taxonomy_id,
        c.term_id,
        t.code,
        t.parent_id as group_id
    from chosen as c
    join taxonomy_term as t on t.id = c.term_id
)

select * from final
