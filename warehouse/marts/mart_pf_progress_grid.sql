-- the platform-building baseline from the ETL file: every city × step, with step and phase order
-- grain: city_code, step_code
-- columns:
--   city_code            city.code
--   city_order           city.sort_order (display order)
--   city_name_ja         市名
--   city_name_en         City name in English
--   step_code            pf_step.code
--   step_label           ①…⑨, ④-1, ④-2
--   step_name_ja         Step name in Japanese
--   step_name_en         Step name in English
--   step_order           pf_step.sort_order
--   phase_code           pf_phase.code of the step's phase
--   phase_label          (ア)…(エ)
--   phase_name_ja        初期段階 …
--   phase_name_en        Initial …
--   phase_order          pf_phase.sort_order
--   status_code          pf_status.code from the file; null when the file has no row for the city and step
--   start_month          開始 (first day of its month); null when 未定 or no row
--   start_precision      month, or fiscal_year for "R7年度~"
--   start_label          開始 exactly as written
--   end_month            完了 month (first day); null while not done
--   end_label            完了 exactly as written
--   note                 備考
--   recorded_by          記入者 (department)
--   recorded_on          記入日: the date the file's row takes effect
with

progress as (
    select * from pf_progress
),

cities as (
    select * from city
),

steps as (
    select * from pf_step
),

phases as (
    select * from pf_phase
),

final as (
    select
        c.code as city_code,
        c.sort_order as city_order,
        c.name_ja as city_name_ja,
        c.name_en as city_name_en,
        st.code as step_code,
        st.label as step_label,
        st.name_ja as step_name_ja,
        st.name_en as step_name_en,
        st.sort_order as step_order,
        ph.code as phase_code,
        ph.label as phase_label,
        ph.name_ja as phase_name_ja,
        ph.name_en as phase_name_en,
        ph.sort_order as phase_order,
        p.status_code,
        p.start_month,
        p.start_precision,
        p.start_label,
        p.end_month,
        p.end_label,
        p.note,
        p.recorded_by,
        p.recorded_on
    from cities as c
    cross join steps as st
    join phases as ph on ph.code = st.phase_code
    left join progress as p on p.city_code = c.code and p.step_code = st.code
    order by c.sort_order, st.sort_order
)

select * from final
