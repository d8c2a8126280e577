-- one row per 町丁目 (ref_town) and support form: the nearest organisation offering that form, by great-circle (haversine) distance over the four cities' pins; empty without reference geography; built after mart_coverage_org_form
-- grain: town_id, form_code
-- columns:
--   town_id                   ref_town.id
--   city_code                 city of the town (city.code)
--   town_name                 町丁目 name shown to users (ref_town.name)
--   latitude                  town representative point latitude, WGS84 degrees
--   longitude                 town representative point longitude, WGS84 degrees
--   form_code                 support form (taxonomy_term.code of taxonomy form); every form, offered or not
--   form_order                taxonomy_term.sort_order of the form
--   pinned_orgs               answering organisations with a map pin that offer the form (anywhere in the four cities)
--   nearest_km                distance to the nearest of them, km (haversine_km of warehouse/macros.sql, unrounded); null when none has a pin
--   nearest_organization_id   organization.id of that organisation (ties: the smaller id); null when none
--   nearest_city_code         city where that organisation is located (city.code)
--   nearest_name              団体名 of that organisation (organization.name)
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
    select organization_id, name, city_code, form_code, latitude, longitude
    from mart_coverage_org_form
    where latitude is not null and longitude is not null
),

pinned as (
    select form_code, count(distinct organization_id) as pinned_orgs
    from pins
    group by form_code
),

-- Exact nearest pin without pairing every town with every pin. A grid of 0.005° cells keeps one pin per form
-- and cell; the nearest of those bounds the distance U to the true nearest pin from above (it is a pin). Every
-- pin within U lies in the box |Δφ| ≤ U/R, sin(|Δλ|/2) ≤ sin(U/2R) / sqrt(cos φ_town · cos(|φ_town| + U/R)),
-- so only pins in that box (widened by 1e-6° against rounding) are measured.
samples as (
    select
        form_code,
        arg_min(latitude, organization_id) as latitude,
        arg_min(longitude, organization_id) as longitude
    from pins
    group by form_code, floor(latitude / 0.005), floor(longitude / 0.005)
),

-- span: the distance to the nearest sampled pin as an angle (radians); haversine_km is warehouse/macros.sql's
bounds as (
    select
        t.id as town_id,
        t.latitude,
        t.longitude,
        s.form_code,
        min(haversine_km(t.latitude, t.longitude, s.latitude, s.longitude)) / earth_radius_km() as span
    from ref_town as t
    cross join samples as s
    group by all
),

boxes as (
    select
        town_id,
        latitude,
        longitude,
        form_code,
        latitude - degrees(span) - 1e-6 as south,
        latitude + degrees(span) + 1e-6 as north,
        case
            when radians(abs(latitude)) + span < pi() / 2
                and sin(span / 2) < sqrt(cos(radians(latitude)) * cos(radians(abs(latitude)) + span))
                then degrees(2 * asin(sin(span / 2) / sqrt(cos(radians(latitude)) * cos(radians(abs(latitude)) + span))))
                + 1e-6
            else 360.0
        end as reach
    from bounds
),

distances as (
    select
        b.town_id,
        p.form_code,
        p.organization_id,
        p.city_code,
        p.name,
        haversine_km(b.latitude, b.longitude, p.latitude, p.longitude) as distance_km
    from boxes as b
    join pins as p
        on p.form_code = b.form_code
        and p.latitude between b.south and b.north
        and p.longitude between b.longitude - b.reach and b.longitude + b.reach
),

-- the nearest pin per town and form; among equal distances the smaller organization id
nearest as (
    select
        town_id,
        form_code,
        min({
            'distance_km': distance_km, 'organization_id': organization_id, 'city_code': city_code, 'name': name
        }) as pin
    from distances
    group by town_id, form_code
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
        n.pin.distance_km as nearest_km,
        n.pin.organization_id as nearest_organization_id,
        n.pin.city_code as nearest_city_code,
        n.pin.name as nearest_name
    from ref_town as t
    cross join forms as f
    left join pinned as pd on pd.form_code = f.form_code
    left join nearest as n on n.town_id = t.id and n.form_code = f.form_code
    order by t.city_code, t.id, f.form_order
)

select * from final
