-- 活動分布's follow-up list: organisations that did not answer the survey, in the page's order (city, then name); public columns only
-- grain: organization_id
-- columns:
--   organization_id             organization.id
--   name                        団体名
--   city_code                   所在市 (city.code)
--   legal_form_code             法人格 (legal_form.code); null when not recorded
--   distribution_channel_code   配布方法 (channel.code); null when not recorded
--   phone                       the organisation's public phone (never a contact person's)
--   list_order                  place in the list: cities in display order, then by name_key (1-based, no ties)
with

organization as (
    select * from organization
),

city as (
    select * from city
),

final as (
    select
        o.id as organization_id,
        o.name,
        o.city_code,
        o.legal_form_code,
        o.distribution_channel_code,
        o.phone,
        row_number() over (order by c.sort_order, o.name_key) as list_order
    from organization as o
    join city as c on c.code = o.city_code
    where not o.survey_answered
    order by list_order
)

select * from final
