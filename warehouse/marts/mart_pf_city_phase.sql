-- the platform-building phase each city has reached
-- grain: city_code
-- columns:
--   city_code            city.code
--   phase_code           highest phase with a step 進行中 or 完了 (pf_phase.code); null if none started
--   phase_label          (ア)…(エ)
--   phase_name_ja        初期段階 …
--   phase_name_en        Initial …
--   steps_total          steps recorded for the city
--   steps_done           steps 完了
--   steps_in_progress    steps 進行中
--   last_recorded_on     latest 記入日 of the city's rows
with

progress as (
    select * from pf_progress
),

steps as (
    select * from pf_step
),

phases as (
    select * from pf_phase
),

started as (
    select
        p.city_code,
        max(ph.sort_order) filter (where p.status_code in ('in_progress', 'done')) as phase_order,
        count(*) as steps_total,
        count(*) filter (where p.status_code = 'done') as steps_done,
        count(*) filter (where p.status_code = 'in_progress') as steps_in_progress,
        max(p.recorded_on) as last_recorded_on
    from progress as p
    join steps as st on st.code = p.step_code
    join phases as ph on ph.code = st.phase_code
    group by p.city_code
),

final as (
    select
        c.code as city_code,
        ph.code as phase_code,
        ph.label as phase_label,
        ph.name_ja as phase_name_ja,
        ph.name_en as phase_name_en,
        coalesce(s.steps_total, 0) as steps_total,
        coalesce(s.steps_done, 0) as steps_done,
        coalesce(s.steps_in_progress, 0) as steps_in_progress,
        s.last_recorded_on
    from city as c
    left join started as s on s.city_code = c.code
    left join phases as ph on ph.sort_order = s.phase_order
)

select * from final
