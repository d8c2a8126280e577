-- PF構築プロセス per 年度 and step: how many cities had it done, in progress, not started or undecided in that year's progress file (reads every year)
-- grain: fiscal_year, step_code
-- columns:
--   fiscal_year          年度 of the progress file (西暦 start year)
--   step_code            pf_step.code
--   cities_done          cities whose status for the step was done (完了)
--   cities_in_progress   cities whose status was in_progress (進行中)
--   cities_not_started   cities whose status was not_started (未着手)
--   cities_undecided     cities whose status was undecided (未定)
with

pf_progress as (
    select * from pf_progress
),

final as (
    select
        fiscal_year,
        step_code,
        count(*) filter (where status_code = 'done') as cities_done,
        count(*) filter (where status_code = 'in_progress') as cities_in_progress,
        count(*) filter (where status_code = 'not_started') as cities_not_started,
        count(*) filter (where status_code = 'undecided') as cities_undecided
    from pf_progress
    group by fiscal_year, step_code
)

select * from final
