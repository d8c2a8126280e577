-- one row per density hexagon and survey status: mapped organisations of mart_org_directory, so 地域資源マップ and 相談つなぎ draw their unfiltered hexagons without reading every organisation; built after mart_org_directory
-- grain: cell_q, cell_r, survey_status
-- columns:
--   cell_q          density hexagon (mart_org_directory.cell_q)
--   cell_r          density hexagon (mart_org_directory.cell_r)
--   survey_status   answered or not_answered (mart_org_directory.survey_status)
--   orgs            mapped organisations (with a pin) in the hexagon with that status
with

mart_org_directory as (
    select * from mart_org_directory
),

final as (
    select
        cell_q,
        cell_r,
        survey_status,
        count(*) as orgs
    from mart_org_directory
    where latitude is not null
    group by cell_q, cell_r, survey_status
    order by cell_q, cell_r, survey_status
)

select * from final
