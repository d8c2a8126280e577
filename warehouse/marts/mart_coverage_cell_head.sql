-- 広域カバレッジ's drill-down list heads: per counting basis and matrix cell (city × support form), the first 1,000 organisations of the cell's list in its order, with their public columns (the page lists that many; the CSV reads the whole list); built after mart_coverage_summary_org
-- grain: basis, city_code, form_code, cell_rank
-- columns:
--   basis             located (所在市: counted where it is located) or served (活動している市: in every one of the four cities it serves)
--   city_code         the cell's city (city.code)
--   form_code         the cell's support form (taxonomy_term.code of taxonomy form)
--   cell_rank         place in the cell's list (1-based, no ties) in mart_coverage_summary_org.city_rank order; only places 1–1,000 are kept
--   organization_id   organization.id
--   name              団体名
--   from_city_code    所在市: city where the organisation is located (organization.city_code)
--   legal_form_code   法人格 (legal_form.code)
--   phone             the organisation's public phone (never a contact person's)
--   forms_ja          its support forms in Japanese (mart_coverage_summary_org.forms_ja)
--   forms_en          its support forms in English (mart_coverage_summary_org.forms_en)
--   areas_ja          areas it serves in Japanese (mart_coverage_summary_org.areas_ja)
--   areas_en          areas it serves in English (mart_coverage_summary_org.areas_en)
--   has_pin           it has a map pin (a location row)
with

mart_coverage_org_form as (
    select * from mart_coverage_org_form
),

mart_coverage_reach as (
    select * from mart_coverage_reach
),

mart_coverage_summary_org as (
    select * from mart_coverage_summary_org
),

city as (
    select * from city
),

-- warehouse.query.coverage.BASES: which organisations count for a city; city_rank orders them as
-- mart_coverage_summary_org.city_rank does (the same keys), so each cell is cut to its head before the labels join
cells as (
    select
        'located' as basis,
        f.organization_id,
        f.city_code,
        f.form_code,
        f.city_rank
    from mart_coverage_org_form as f
    join city as c on c.code = f.city_code
    union all
    select
        'served' as basis,
        f.organization_id,
        r.to_city_code as city_code,
        f.form_code,
        f.city_rank
    from mart_coverage_org_form as f
    join city as c on c.code = f.city_code
    join mart_coverage_reach as r on r.organization_id = f.organization_id
    where r.to_city_code is not null
),

heads as (
    select
        basis,
        city_code,
        form_code,
        organization_id,
        row_number() over (partition by basis, city_code, form_code order by city_rank) as cell_rank
    from cells
    -- warehouse.query.coverage.CELL_HEAD_ROWS
    qualify cell_rank <= 1000
),

final as (
    select
        k.basis,
        k.city_code,
        k.form_code,
        k.cell_rank,
        o.organization_id,
        o.name,
        o.city_code as from_city_code,
        o.legal_form_code,
        o.phone,
        o.forms_ja,
        o.forms_en,
        o.areas_ja,
        o.areas_en,
        o.has_pin
    from heads as k
    join mart_coverage_summary_org as o on o.organization_id = k.organization_id
    order by k.basis, k.city_code, k.form_code, k.cell_rank
)

select * from final
