-- every KPI target (kpi_target) beside the KPI's actual value from mart_event_kpis for the same scope; the consultee KPIs' actual values are sensitive and live in pii.mart_event_consultee_targets; built after mart_event_kpis
-- grain: target_id
-- columns:
--   target_id         kpi_target.id
--   kpi_code          KPI code (etl/sources/targets.py KPIS)
--   city_code         city the target is for (city.code); null = 4市全体
--   sort_order        display order of the KPI
--   unit              名, 名/日, % or 円
--   higher_is_better  true when a larger value is better (false for the costs per person)
--   target_value      目標値
--   set_by            設定者 (department or role)
--   set_on            設定日
--   actual            the KPI's value for the scope as shown on the page (mart_event_kpis); null when the scope held no event of the kind, and always null for the consultee KPIs (see pii.mart_event_consultee_targets)
--   decimals          decimals to show actual with (exhibition_visitors_per_day: 3 significant figures)
--   achieved          actual ≥ target (≤ for the costs); null when there is no actual
--   attainment_pct    actual ÷ target × 100, one decimal
with

kpi_target as (
    select * from kpi_target
),

kpis as (
    select * from mart_event_kpis
),

definitions (kpi_code, sort_order, unit, higher_is_better) as (
    values
        ('exhibition_visitors', 1, '名', true),
        ('exhibition_visitors_per_day', 2, '名/日', true),
        ('workshop_participations', 3, '名', true),
        ('workshop_unique_participants', 4, '名', true),
        ('workshop_consultee_participations', 5, '名', true),
        ('workshop_unique_consultees', 6, '名', true),
        ('workshop_consultee_share_pct', 7, '%', true),
        ('symposium_participants', 8, '名', true),
        ('survey_positive_pct', 9, '%', true),
        ('total_reach', 10, '名', true),
        ('cost_per_contact_yen', 11, '円', false),
        ('cost_per_person_yen', 12, '円', false)
),

kpi_values as (
    select
        city_code,
        exhibition_visitors::double as exhibition_visitors,
        exhibition_visitors_per_day::double as exhibition_visitors_per_day,
        workshop_participations::double as workshop_participations,
        workshop_unique_participants::double as workshop_unique_participants,
        symposium_participants::double as symposium_participants,
        survey_positive_pct::double as survey_positive_pct,
        total_reach::double as total_reach,
        cost_per_contact_yen::double as cost_per_contact_yen,
        cost_per_person_yen::double as cost_per_person_yen
    from kpis
),

actuals as (
    select *
    from kpi_values
    unpivot include nulls (
        actual for kpi_code in (
            exhibition_visitors,
            exhibition_visitors_per_day,
            workshop_participations,
            workshop_unique_participants,
            symposium_participants,
            survey_positive_pct,
            total_reach,
            cost_per_contact_yen,
            cost_per_person_yen
        )
    )
),

per_day_decimals as (
    select city_code, exhibition_visitors_per_day_decimals
    from kpis
),

final as (
    select
        t.id as target_id,
        t.kpi_code,
        t.city_code,
        d.sort_order,
        d.unit,
        d.higher_is_better,
        t.target_value,
        t.set_by,
        t.set_on,
        a.actual,
        case
            when t.kpi_code = 'exhibition_visitors_per_day' then coalesce(p.exhibition_visitors_per_day_decimals, 1)
            when d.unit = '%' then 1
            else 0
        end as decimals,
        target_achieved(a.actual, t.target_value, d.higher_is_better) as achieved,
        attainment_pct(a.actual, t.target_value) as attainment_pct
    from kpi_target as t
    join definitions as d on d.kpi_code = t.kpi_code
    left join actuals as a on a.kpi_code = t.kpi_code and a.city_code is not distinct from t.city_code
    left join per_day_decimals as p on p.city_code is not distinct from t.city_code
)

select * from final
