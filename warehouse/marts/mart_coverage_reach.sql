-- one row per answering organisation and area it serves (service_area), beside the city where it is located (広域カバレッジ)
-- grain: organization_id, to_city_code
-- columns:
--   organization_id   organization.id of an organisation that answered the survey
--   from_city_code    所在市: city where the organisation is located (organization.city_code)
--   to_city_code      a city it serves (city.code); null = 4市以外 (outside the four cities)
--   is_home           to_city_code is the city where it is located
--   areas_served      areas it serves: each of the four cities counts one, 4市以外 counts one
--   cities_served     of those, how many of the four cities
--   serves_outside    its service area includes 4市以外
--   reaches_beyond    its service area includes an area other than its own city (another of the four cities, or 4市以外)
with

organization as (
    select * from organization
),

service as (
    select * from service
),

service_area as (
    select * from service_area
),

-- distinct: an area answered twice counts once
served as (
    select distinct
        s.organization_id,
        o.city_code as from_city_code,
        sa.city_code as to_city_code
    from service_area as sa
    join service as s on s.id = sa.service_id
    join organization as o on o.id = s.organization_id
    where o.survey_answered
),

per_org as (
    select
        organization_id,
        count(*) as areas_served,
        count(to_city_code) as cities_served,
        bool_or(to_city_code is null) as serves_outside,
        bool_or(to_city_code is distinct from from_city_code) as reaches_beyond
    from served
    group by organization_id
),

final as (
    select
        s.organization_id,
        s.from_city_code,
        s.to_city_code,
        s.to_city_code is not distinct from s.from_city_code as is_home,
        p.areas_served,
        p.cities_served,
        p.serves_outside,
        p.reaches_beyond
    from served as s
    join per_org as p on p.organization_id = s.organization_id
    order by s.organization_id, s.to_city_code nulls last
)

select * from final
