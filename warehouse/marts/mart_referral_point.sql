-- one row per organisation of mart_referral_directory: its density hexagon, term masks and name rank, narrow and ordered by hexagon, so 相談つなぎ counts full matches per hexagon and ranks the nearest ones ring by ring without reading the wide directory (only the shown rows' display columns are read there); built after mart_referral_directory
-- grain: organization_id
-- columns:
--   organization_id   mart_referral_directory.organization_id
--   cell_q            density hexagon of the pin (axial column q, warehouse/macros.sql hex_cell); null without a pin
--   cell_r            density hexagon of the pin (axial row r); null without a pin
--   cell_latitude     the hexagon's centre latitude (WGS84 degrees); null without a pin
--   cell_longitude    the hexagon's centre longitude (WGS84 degrees); null without a pin
--   cell_reach_km     great-circle distance from the centre to the hexagon's farthest pin (km): every pin of the hexagon lies within it
--   latitude          map pin latitude (WGS84 degrees); null without a pin
--   longitude         map pin longitude (WGS84 degrees); null without a pin
--   content_mask      mart_referral_directory.content_mask
--   form_mask         mart_referral_directory.form_mask
--   target_mask       mart_referral_directory.target_mask
--   name_rank         mart_referral_directory.name_rank: the results' order among equal distances, so the ranking reads this mart only
with

mart_referral_directory as (
    select * from mart_referral_directory
),

pins as (
    select
        *,
        case when latitude is not null and longitude is not null then hex_cell(latitude, longitude) end as cell
    from mart_referral_directory
),

final as (
    select
        organization_id,
        cell.q as cell_q,
        cell.r as cell_r,
        hex_centre_latitude(cell.q, cell.r) as cell_latitude,
        hex_centre_longitude(cell.q) as cell_longitude,
        -- reads the hexagon columns above (DuckDB's lateral column aliases), so the list is written once
        max(haversine_km(cell_latitude, cell_longitude, latitude, longitude))
            over (partition by cell_q, cell_r) as cell_reach_km,
        latitude,
        longitude,
        content_mask,
        form_mask,
        target_mask,
        name_rank
    from pins
    -- zone maps of cell_q / cell_r then skip the row groups of hexagons far from a resident's point
    order by cell_q nulls last, cell_r nulls last, organization_id
)

select * from final
