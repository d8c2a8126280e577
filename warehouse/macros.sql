-- SQL macros shared by the marts and the read-only queries; warehouse/macros.py creates them in the build
-- connection (so they are stored in the warehouse) and in every query connection. Each formula and constant
-- is written here once; Python reads the constants it needs from here (warehouse.macros).

-- Mean Earth radius (IUGG), km.
create or replace macro earth_radius_km() as 6371.0088;

-- x, but at most 1 (null stays null, unlike least(1.0, x)): keeps float rounding inside asin's domain.
create or replace macro at_most_one(x) as case when x > 1.0 then 1.0 else x end;

-- Great-circle distance, km, between two WGS84 points in degrees (haversine); null when a point is null:
-- d = 2R asin(sqrt(sin²(Δφ/2) + cos φ1 cos φ2 sin²(Δλ/2))).
create or replace macro haversine_km(lat1, lng1, lat2, lng2) as
    2 * earth_radius_km() * asin(at_most_one(sqrt(
        pow(sin(radians(lat2 - lat1) / 2), 2)
        + cos(radians(lat1)) * cos(radians(lat2))
        * pow(sin(radians(lng2 - lng1) / 2), 2)
    )));

-- Density hexagons: flat-top hexagons of hex_metres() radius on a plane tangent at hex_latitude() (the four
-- cities' latitude), where 1° of latitude is hex_lat_metres() and 1° of longitude hex_lng_metres() × cos of it.
create or replace macro hex_metres() as 500;
create or replace macro hex_latitude() as 35.45;
create or replace macro hex_lat_metres() as 110574.0;
create or replace macro hex_lng_metres() as 111320.0;

-- The axial cell {q, r} of a point (degrees): project to metres, scale by the radius, cube-round to the
-- nearest hexagon (the coordinate with the largest rounding error is recomputed from the other two).
create or replace macro hex_round(fq, fr) as {
    'q': cast(case
        when abs(round(fq) - fq) > abs(round(fr) - fr) and abs(round(fq) - fq) > abs(round(-fq - fr) - (-fq - fr))
            then -round(fr) - round(-fq - fr)
        else round(fq)
    end as integer),
    'r': cast(case
        when abs(round(fq) - fq) > abs(round(fr) - fr) and abs(round(fq) - fq) > abs(round(-fq - fr) - (-fq - fr))
            then round(fr)
        when abs(round(fr) - fr) > abs(round(-fq - fr) - (-fq - fr)) then -round(fq) - round(-fq - fr)
        else round(fr)
    end as integer)
};

create or replace macro hex_x(lng) as cast(lng as double) * hex_lng_metres() * cos(radians(hex_latitude()));
create or replace macro hex_y(lat) as cast(lat as double) * hex_lat_metres();

create or replace macro hex_cell(lat, lng) as hex_round(
    (2.0 / 3.0) * hex_x(lng) / hex_metres(),
    (-hex_x(lng) / 3.0 + sqrt(3.0) / 3.0 * hex_y(lat)) / hex_metres()
);

-- The centre of axial cell (q, r), WGS84 degrees: hex_cell inverted.
create or replace macro hex_centre_longitude(q) as
    hex_metres() * 1.5 * q / (hex_lng_metres() * cos(radians(hex_latitude())));
create or replace macro hex_centre_latitude(q, r) as
    hex_metres() * sqrt(3.0) * (r + q / 2.0) / hex_lat_metres();

-- A KPI target's verdict: actual ≥ target (≤ where lower is better, such as a cost); null without an actual.
create or replace macro target_achieved(actual, target, higher_is_better) as
    case
        when actual is null then null
        when higher_is_better then actual >= target
        else actual <= target
    end;

-- The actual as a share of its target, %, one decimal.
create or replace macro attainment_pct(actual, target) as round(100.0 * actual / target, 1)::double;
