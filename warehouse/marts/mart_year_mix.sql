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

taxonomy_term as (
    select * from taxonomy_term
),

answered as (
    select fiscal_year, organization_id, city_code
    from organization_year
    where survey_answered
),

-- the same selection as int_org_term, per year: an organisation has a term once however its answer spelled it
chosen as (
    select distinct
        a.fiscal_year,
        s.organization_id,
        a.link_type as taxonomy_id,
        a.taxonomy_term_id as term_id
    from attribute as a
    join service as s on s.fiscal_year = a.fiscal_year and s.id = a.link_id
    where a.link_entity = 'service' and a.link_type in ('content', 'form')
),

terms as (
    select c.fiscal_year, c.organization_id, c.taxonomy_id, c.term_id
    from chosen as c
    union
    -- a content category's field, once per organisation
    select c.fiscal_year, c.organization_id, 'group', t.parent_id
    from chosen as c
    join taxonomy_term as t on t.id = c.term_id
    where c.taxonomy_id = 'content' and t.parent_id is not null
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
    select b.fiscal_year, c.city_code, v.taxonomy_id, v.term_id
    from fiscal_year_bundle as b
    cross join (select code as city_code from city union all select null) as c
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
