-- one row per 町丁目 (ref_town) and support form: the nearest organisation offering that form, by great-circle (haversine) distance over the four cities' pins; empty without reference geography; built after mart_coverage_org_form (marts build in file-name order)
-- columns:
--   town_id                   ref_town.id
--   city_code                 city of the town (city.code)
--   town_name                 町丁目 name shown to users (ref_town.name)
--   latitude                  town representative point latitude, WGS84 degrees
--   longitude                 town representative point longitude, WGS84 degrees
--   form_code                 support form (taxonomy_term.code of taxonomy form); every form, offered or not
--   form_order                taxonomy_term.sort_order of the form
--   pinned_orgs               answering organisations with a map pin that offer the form (anywhere in the four cities)
--   nearest_km                distance to the nearest of them, km (haversine, mean Earth radius 6371.0088 km, unrounded); null when none has a pin
--   nearest_organization_id   organization.id of that organisation (ties: the smaller id); null when none
--   nearest_city_code         city where that organisation is located (city.code)
with

ref_town as (
    select * from ref_town
),

taxonomy_term as (
    select * from taxonomy_term
),

mart_coverage_org_form as (
    select * from mart_coverage_org_form
),

forms as (
    select code as form_code, sort_order as form_order
    from taxonomy_term
    where taxonomy_id = 'form'
),

pins as (
    select organization_id, city_code, form_code, latitude, longitude
    from mart_coverage_org_form
    where latitude is not null and longitude is not null
),

pinned as (
    select form_code, count(distinct organization_id) as pinned_orgs
    from pins
    group by form_code
),

-- haversine: d = 2R asin(sqrt(sin²(Δφ/2) + cos φ1 cos φ2 sin²(Δλ/2))), R = 6371.0088 km (IUGG mean radius)
distances as (
    select
        t.id as town_id,
        p.form_code,
        p.organization_id,
        p.city_code,
        2 * 6371.0088 * asin(least(1.0, sqrt(
            pow(sin(radians(p.latitude - t.latitude) / 2), 2)
            + cos(radians(t.latitude)) * cos(radians(p.latitude))
            * pow(sin(radians(p.longitude - t.longitude) / 2), 2)
        ))) as distance_km
    from ref_town as t
    cross join pins as p
),

nearest as (
    select *
    from distances
    qualify row_number() over (partition by town_id, form_code order by distance_km, organization_id) = 1
),

final as (
    select
        t.id as town_id,
        t.city_code,
        t.name as town_name,
        t.latitude,
        t.longitude,
        f.form_code,
        f.form_order,
        coalesce(pd.pinned_orgs, 0) as pinned_orgs,
        n.distance_km as nearest_km,
        n.organization_id as nearest_organization_id,
        n.city_code as nearest_city_code
    from ref_town as t
    cross join forms as f
    left join pinned as pd on pd.form_code = f.form_code
    left join nearest as n on n.town_id = t.id and n.form_code = f.form_code
    order by t.city_code, t.id, f.form_order
)

select * from final
