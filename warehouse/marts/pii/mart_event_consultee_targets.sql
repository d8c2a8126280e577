-- sensitive: the targets set for consultee (相談者) KPIs, with their actual values from pii.mart_city_consultees; shown in place of mart_event_targets' empty actual to viewers allowed to see consultee figures; built after pii.mart_city_consultees (pii marts build after every main mart)
-- grain: target_id
-- columns:
--   target_id         kpi_target.id (a row of mart_event_targets)
--   actual            the KPI's value for the target's scope; null when the scope held no workshop
--   achieved          actual ≥ target; null when there is no actual
--   attainment_pct    actual ÷ target × 100, one decimal
with

targets as (
    select * from mart_event_targets
),

consultees as (
    select * from pii.mart_city_consultees
),

kpi_values as (
    select
        city_code,
        workshop_consultee_participations::double as workshop_consultee_participations,
        workshop_unique_consultees::double as workshop_unique_consultees,
        workshop_consultee_share_pct::double as workshop_consultee_share_pct
    from consultees
),

actuals as (
    select *
    from kpi_values
    unpivot include nulls (
        actual for kpi_code in (
            workshop_consultee_participations,
            workshop_unique_consultees,
            workshop_consultee_share_pct
        )
    )
),

final as (
    select
        t.target_id,
        a.actual,
        target_achieved(a.actual, t.target_value, t.higher_is_better) as achieved,
        attainment_pct(a.actual, t.target_value) as attainment_pct
    from targets as t
    join actuals as a on a.kpi_code = t.kpi_code and a.city_code is not distinct from t.city_code
)

select * from final
