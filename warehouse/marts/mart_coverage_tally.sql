-- answering organisations per counting basis, PF参画意向, city and support form, and per basis, PF参画意向 and form over the four cities together (広域カバレッジ matrices); built after mart_coverage_org_form and mart_coverage_reach
-- grain: basis, pf_intent_code, all_cities, city_code, form_code
-- columns:
--   basis            located (counted in the city where it is located) or served (in every one of the four cities its service area includes)
--   pf_intent_code   PF参画意向 (pf_intent.code); null when not answered. Each organisation has one, so sums over intents stay distinct counts
--   all_cities       true: the row counts the four cities together (city_code null), each organisation once
--   city_code        city.code the organisations count for; null on all_cities rows
--   form_code        support form chosen (taxonomy_term.code of taxonomy form)
--   orgs             distinct organisations
with

mart_coverage_org_form as (
    select * from mart_coverage_org_form
),

mart_coverage_reach as (
    select * from mart_coverage_reach
),

cells as (
    select
        'located' as basis,
        organization_id,
        pf_intent_code,
        city_code,
        form_code
    from mart_coverage_org_form
    union all
    select
        'served' as basis,
        f.organization_id,
        f.pf_intent_code,
        r.to_city_code as city_code,
        f.form_code
    from mart_coverage_org_form as f
    join mart_coverage_reach as r on r.organization_id = f.organization_id
    where r.to_city_code is not null
),

final as (
    select
        basis,
        pf_intent_code,
        grouping(city_code) = 1 as all_cities,
        city_code,
        form_code,
        count(distinct organization_id) as orgs
    from cells
    group by grouping sets ((basis, pf_intent_code, city_code, form_code), (basis, pf_intent_code, form_code))
    order by basis, all_cities, city_code, form_code, pf_intent_code
)

select * from final
