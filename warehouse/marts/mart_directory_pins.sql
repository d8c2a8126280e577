-- one row per city, survey answer and 最終確認日: mapped organisations of mart_org_directory and the box of their pins, so 地域資源マップ counts its unfiltered pins (stale ones as of any day) and frames the map without reading every organisation; built after mart_org_directory
-- grain: city_code, survey_answered, last_verified
-- columns:
--   city_code         所在市 (mart_org_directory.city_code)
--   survey_answered   whether they answered the resource survey
--   last_verified     最終確認日 of their pins; null when the pin has none
--   orgs              mapped organisations (with a pin)
--   min_latitude      southernmost pin (WGS84 degrees)
--   max_latitude      northernmost pin (WGS84 degrees)
--   min_longitude     westernmost pin (WGS84 degrees)
--   max_longitude     easternmost pin (WGS84 degrees)
with

mart_org_directory as (
    select * from mart_org_directory
),

final as (
    select
        city_code,
        survey_answered,
        last_verified,
        count(*) as orgs,
        min(latitude) as min_latitude,
        max(latitude) as max_latitude,
        min(longitude) as min_longitude,
        max(longitude) as max_longitude
    from mart_org_directory
    where latitude is not null
    group by city_code, survey_answered, last_verified
    order by city_code, survey_answered, last_verified
)

select * from final
