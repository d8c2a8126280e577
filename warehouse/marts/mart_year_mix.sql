-- the support-form and content mix per 年度 and city: organisations that answered that year's survey per term they chose (content field, content category, support form), by that year's city; city_code null = the four cities together (reads every year; 活動分布 compares two years with it, and the latest year equals mart_activity_counts)
-- grain: fiscal_year, city_code, taxonomy_id, term_id
-- columns:
--   fiscal_year   年度 (西暦 start year)
--   city_code     city.code of the organisations that year (organization_year.city_code); null = 4市全体 (all four cities)
--   taxonomy_id   group (content field), content (content category) or form (support form)
--   term_id       taxonomy_term.id counted (for group: the field; for content: the category); every term of the taxonomy, chosen or not
--   respondents   organisations in the scope that answered that year's survey (the share's denominator)
--   orgs          of those, organisations whose answer chose the term (each once; 0 when none did)
with

year_scopes as (
    select * from int_year_scopes
),

organization_year as (
    select * from organization_year
),

org_term as (
    select * from int_year_org_term
),

taxonomy_term as (
    select * from taxonomy_term
),

answered as (
    select fiscal_year, organization_id, city_code
    from organization_year
    where survey_answered
),

terms as (
    select fiscal_year, organization_id, taxonomy_id, term_id
    from org_term
    where taxonomy_id in ('content', 'form')
    union
    -- a content category's field, once per organisation
    select fiscal_year, organization_id, 'group', group_id
    from org_term
    where taxonomy_id = 'content' and group_id is not null
),

counted as (
    select
        w.fiscal_year,
        w.city_code,
        m.taxonomy_id,
        m.term_id,
        count(distinct w.organization_id) as orgs
    from terms as m
    join answered as w on w.fiscal_year = m.fiscal_year and w.organization_id = m.organization_id
    group by grouping sets ((w.fiscal_year, w.city_code, m.taxonomy_id, m.term_id), (w.fiscal_year, m.taxonomy_id, m.term_id))
),

respondents as (
    select fiscal_year, city_code, count(*) as respondents
    from answered
    group by grouping sets ((fiscal_year, city_code), (fiscal_year))
),

vocabulary as (
    select 'group' as taxonomy_id, id as term_id from taxonomy_term where taxonomy_id = 'content' and parent_id is null
    union all
    select 'content', id from taxonomy_term where taxonomy_id = 'content' and parent_id is not null
    union all
    select 'form', id from taxonomy_term where taxonomy_id = 'form'
),

scopes as (
    select y.fiscal_year, y.city_code, v.taxonomy_id, v.term_id
    from year_scopes as y
    cross join vocabulary as v
),

final as (
    select
        s.fiscal_year,
        s.city_code,
        s.taxonomy_id,
        s.term_id,
        coalesce(r.respondents, 0) as respondents,
        coalesce(x.orgs, 0) as orgs
    from scopes as s
    left join respondents as r on r.fiscal_year = s.fiscal_year and r.city_code is not distinct from s.city_code
    left join counted as x
        on x.fiscal_year = s.fiscal_year
        and x.city_code is not distinct from s.city_code
        and x.taxonomy_id = s.taxonomy_id
        and x.term_id = s.term_id
    order by s.fiscal_year, s.city_code nulls last, s.taxonomy_id, s.term_id
)

select * from final
