-- pinned answering organisations per support form and density hexagon (広域カバレッジ's map when a form has more pins than a browser should get); reads mart_org_directory's grid
-- grain: form_code, cell_q, cell_r
-- columns:
--   form_code         support form (taxonomy_term.code of taxonomy form)
--   cell_q            density hexagon (mart_org_directory.cell_q, axial column of the flat-top grid, warehouse/macros.sql hex_cell)
--   cell_r            density hexagon (mart_org_directory.cell_r, axial row)
--   orgs              organisations offering the form with a pin in that hexagon
with

org_form as (
    select * from mart_coverage_org_form
),

directory as (
    select * from mart_org_directory
),

final as (
    select
        f.form_code,
        d.cell_q,
        d.cell_r,
        count(*) as orgs
    from org_form as f
    join directory as d on d.organization_id = f.organization_id
    where f.latitude is not null and f.longitude is not null and d.cell_q is not null
    group by f.form_code, d.cell_q, d.cell_r
)

select * from final
