-- intermediate (built before the marts, dropped after them): one row per organisation and taxonomy term its survey answer chose in the 年度 being built (the latest, or an earlier year's fy<year> scope: int_year_org_term of that year), with the term's labels and its content group; read by mart_activity_term, mart_coverage_org_form, mart_directory_profile, mart_org_directory and mart_referral_directory
-- grain: organization_id, term_id
-- columns:
--   organization_id   organization.id of the answering organisation (through service.organization_id)
--   taxonomy_id       content, form or target (attribute.link_type)
--   term_id           taxonomy_term.id chosen (for content: the category)
--   code              taxonomy_term.code
--   name              term label in Japanese
--   name_en           term label in English
--   sort_order        taxonomy_term.sort_order (for forms: the report's order)
--   gradient_rank     forms only: position on the report's gradient; null off it
--   group_id          the term's parent (taxonomy_term.parent_id: a content category's group); null at the top level
--   group_code        code of that parent
--   group_name        Japanese label of that parent
--   group_name_en     English label of that parent
--   group_order       sort_order of that parent
with

org_term as (
    select * from int_year_org_term
),

-- the scope's year: organization_year is a year table, so the scope this model builds in (the latest year, or an
-- earlier one for its fy<year> schema) shows only its own year's rows
organization_year as (
    select * from organization_year
),

taxonomy_term as (
    select * from taxonomy_term
),

-- the scope year's choices: int_year_org_term holds every year's
chosen as (
    select organization_id, taxonomy_id, term_id
    from org_term
    where fiscal_year in (select distinct fiscal_year from organization_year)
),

final as (
    select
        c.organization_id,
        c.taxonomy_id,
        c.term_id,
        t.code,
        t.name,
        t.name_en,
        t.sort_order,
        t.gradient_rank,
        t.parent_id as group_id,
        g.code as group_code,
        g.name as group_name,
        g.name_en as group_name_en,
        g.sort_order as group_order
    from chosen as c
    join taxonomy_term as t on t.id = c.term_id
    left join taxonomy_term as g on g.id = t.parent_id
)

select * from final
