-- 活動分布's content counts with no filter but the city (the page's default view), per city and for the four cities, in the page's order, computed once at build
-- grain: city_code, category_code
-- columns:
--   city_code            所在市 (city.code); null: the four cities together
--   content_order        place in the page's order (largest field first, then its largest categories), 1-based per city_code
--   group_code           活動分野 (taxonomy_term.code of the field)
--   group_name           field label (Japanese)
--   group_name_en        field label (English)
--   group_rank           the field's place in the whole taxonomy (1-based), so colours stay put under filters
--   group_orgs           answering organisations with the field
--   group_share_pct      group_orgs as % of answering organisations in scope, one decimal
--   category_code        活動内容 (taxonomy_term.code of the category)
--   category_name        category label (Japanese)
--   category_name_en     category label (English)
--   category_orgs        answering organisations with the category
--   category_share_pct   category_orgs as % of answering organisations in scope, one decimal
with

counts as (
    select * from mart_activity_counts
),

cells as (
    select * from mart_activity_cells
),

taxonomy_term as (
    select * from taxonomy_term
),

city as (
    select * from city
),

scopes as (
    select null::varchar as city_code
    union all
    select code from city
),

-- the sums warehouse/query/activity.py's content_counts takes over the cells of one scope
sums as (
    select s.city_code, m.taxonomy_id, m.term_id, sum(m.orgs)::bigint as orgs
    from scopes as s
    join counts as m on s.city_code is null or m.city_code = s.city_code
    where m.target_id is null and m.taxonomy_id in ('group', 'content')
    group by all
),

groups as (
    select city_code, term_id, orgs from sums where taxonomy_id = 'group'
),

categories as (
    select city_code, term_id, orgs from sums where taxonomy_id = 'content'
),

ranks as (
    select id, row_number() over (order by sort_order) as group_rank
    from taxonomy_term
    where taxonomy_id = 'content' and parent_id is null
),

n as (
    select s.city_code, coalesce(sum(o.orgs), 0)::bigint as n
    from scopes as s
    left join cells as o on (s.city_code is null or o.city_code = s.city_code) and o.survey_answered
    group by all
),

final as (
    select
        c.city_code,
        row_number() over (
            partition by c.city_code order by s.orgs desc, g.sort_order, c.orgs desc, t.sort_order
        ) as content_order,
        g.code as group_code,
        g.name as group_name,
        g.name_en as group_name_en,
        r.group_rank,
        s.orgs as group_orgs,
        round(100.0 * s.orgs / n.n, 1) as group_share_pct,
        t.code as category_code,
        t.name as category_name,
        t.name_en as category_name_en,
        c.orgs as category_orgs,
        round(100.0 * c.orgs / n.n, 1) as category_share_pct
    from categories as c
    join taxonomy_term as t on t.id = c.term_id
    join groups as s on s.city_code is not distinct from c.city_code and s.term_id = t.parent_id
    join taxonomy_term as g on g.id = t.parent_id
    join ranks as r on r.id = t.parent_id
    join n on n.city_code is not distinct from c.city_code
    order by c.city_code nulls first, content_order
)

select * from final
