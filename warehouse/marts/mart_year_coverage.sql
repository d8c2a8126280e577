-- 広域カバレッジ's city × support form counts per 年度: organisations that answered that year's survey with the form, counted where located or in every one of the four cities they serve, and over the four cities together (reads every year; the latest year equals mart_coverage_tally summed over PF参画意向, and the page's gap rule applied to each year says which gaps closed or opened)
-- grain: fiscal_year, basis, city_code, form_code
-- columns:
--   fiscal_year   年度 (西暦 start year)
--   basis         located (counted in the city where it is located that year) or served (in every one of the four cities its service area that year includes)
--   city_code     city.code the organisations count for; null = the four cities together, each organisation once
--   form_code     support form (taxonomy_term.code of taxonomy form); every form, chosen or not
--   orgs          distinct organisations (0 when none)
with

city as (
    select * from city
),

fiscal_year_bundle as (
    select * from fiscal_year_bundle
),

organization_year as (
    select * from organization_year
),

service as (
    select * from service
),

attribute as (
    select * from attribute
),

service_area as (
    select * from service_area
),

taxonomy_term as (
    select * from taxonomy_term
),

org_form as (
    select distinct
        a.fiscal_year,
        s.organization_id,
        o.city_code,
        t.code as form_code
    from attribute as a
    join service as s on s.fiscal_year = a.fiscal_year and s.id = a.link_id
    join taxonomy_term as t on t.id = a.taxonomy_term_id
    join organization_year as o
        on o.fiscal_year = a.fiscal_year and o.organization_id = s.organization_id and o.survey_answered
    where a.link_entity = 'service' and a.link_type = 'form'
),

served as (
    select distinct
        sa.fiscal_year,
        s.organization_id,
        sa.city_code as to_city_code
    from service_area as sa
    join service as s on s.fiscal_year = sa.fiscal_year and s.id = sa.service_id
    where sa.city_code is not null
),

cells as (
    select 'located' as basis, fiscal_year, organization_id, city_code, form_code
    from org_form
    union all
    select 'served', f.fiscal_year, f.organization_id, r.to_city_code, f.form_code
    from org_form as f
    join served as r on r.fiscal_year = f.fiscal_year and r.organization_id = f.organization_id
),

counted as (
    select
        fiscal_year,
        basis,
        city_code,
        form_code,
        count(distinct organization_id) as orgs
    from cells
    group by grouping sets ((fiscal_year, basis, city_code, form_code), (fiscal_year, basis, form_code))
),

scopes as (
    select b.fiscal_year, k.basis, c.city_code, f.code as form_code
    from fiscal_year_bundle as b
    cross join (values ('located'), ('served')) as k(basis)
    cross join (select code as city_code from city union all select null) as c
    cross join (select code from taxonomy_term where taxonomy_id = 'form') as f
),

final as (
    select
        s.fiscal_year,
        s.basis,
        s.city_code,
        s.form_code,
        coalesce(x.orgs, 0) as orgs
    from scopes as s
    left join counted as x
        on x.fiscal_year = s.fiscal_year
        and x.basis = s.basis
        and x.city_code is not distinct from s.city_code
        and x.form_code = s.form_code
    order by s.fiscal_year, s.basis, s.city_code nulls last, s.form_code
)

select * from final
