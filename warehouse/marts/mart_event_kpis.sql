-- art-project KPIs for each city and for the four cities together (city_code null); a KPI is null when the city held no event of its kind; built after mart_art_totals and mart_event_answers
-- grain: city_code
-- columns:
--   city_code                 city.code of the events' host city; null = 4市全体 (all four cities)
--   exhibitions               exhibitions held (展示)
--   exhibition_open_days      開催日数 summed over the exhibitions (venue-days)
--   exhibition_visitors       来場者数 summed over the exhibitions' open days
--   exhibition_visitors_per_day_exact  exhibition_visitors ÷ exhibition_open_days, unrounded; null (unknown) when an exhibition's 開催日数 is null (unreadable in the source): the sum would count it as 0 days
--   exhibition_visitors_per_day  the same rounded half away from zero to 3 significant figures, as the report prints it (2,345 ÷ 8 = 293.125 → 293; 853 ÷ 10 = 85.3)
--   exhibition_visitors_per_day_decimals  decimals of exhibition_visitors_per_day (0 for 293, 1 for 85.3)
--   workshops                 workshops held (ワークショップ)
--   workshop_sessions         workshop sessions held (開催回)
--   workshop_participations   参加者数 summed over workshop sessions (延べ: one person at three sessions counts three times)
--   workshop_unique_participants  実人数: distinct 参加者ID in 出欠 over the scope's workshop sessions (the report's 約60名); a person at several sessions or workshops counts once
--   symposia                  symposia held (シンポジウム)
--   symposium_participants    参加者数 of the symposium sessions
--   surveyed_events           events with venue-survey tallies
--   survey_answers            every venue-survey answer, 無回答 included
--   survey_positive           answers すごく感じた or 感じた
--   survey_positive_pct       survey_positive ÷ survey_answers × 100, one decimal
--   total_reach               exhibition_visitors + workshop_participations + symposium_participants (延べ)
--   total_people              exhibition_visitors + workshop_unique_participants + symposium_participants (visitors and symposium participants are head counts, not identified people)
--   art_contract_yen          contracts whose 事業名 contains アート, summed (yen); four cities together only (joint contract); null (unknown) when such a contract's amount is null (unreadable in the source)
--   cost_per_contact_yen      art_contract_yen ÷ total_reach, whole yen; four cities together only
--   cost_per_person_yen       art_contract_yen ÷ total_people, whole yen; four cities together only
with

totals as (
    select * from mart_art_totals
),

answers as (
    select * from mart_event_answers
),

contract as (
    select * from contract
),

-- Exhibitions whose 開催日数 was unreadable (null): their days are missing from the summed open days.
unknown_days as (
    select * from int_event_days_unknown
),

survey as (
    select
        city_code,
        count(distinct event_id) as surveyed_events,
        sum(answers)::bigint as survey_answers,
        (sum(answers) filter (where polarity = 'positive'))::bigint as survey_positive
    from answers
    group by grouping sets ((city_code), ())
),

art_contract as (
    -- An unreadable amount (null) makes the total unknown: a sum without it would understate every cost.
    select case when count(*) = count(amount_yen) then sum(amount_yen)::bigint end as art_contract_yen
    from contract
    where project like '%アート%'
),

figures as (
    select
        t.city_code,
        t.exhibitions,
        t.exhibition_open_days,
        t.workshops,
        t.symposia,
        coalesce(sv.surveyed_events, 0) as surveyed_events,
        t.workshop_sessions,
        t.exhibition_visitors,
        t.workshop_participations,
        t.workshop_unique_participants,
        t.symposium_participants,
        sv.survey_answers,
        sv.survey_positive,
        ac.art_contract_yen,
        coalesce(ud.exhibitions_days_unknown, 0) as exhibitions_days_unknown
    from totals as t
    left join survey as sv on sv.city_code is not distinct from t.city_code
    left join unknown_days as ud on ud.city_code is not distinct from t.city_code
    cross join art_contract as ac
),

-- Counts of a kind the scope never held stay null ("no event"), not 0 ("nobody came").
counted as (
    select
        city_code,
        exhibitions,
        exhibition_open_days,
        case when exhibitions > 0 then coalesce(exhibition_visitors, 0) end as exhibition_visitors,
        workshops,
        case when workshops > 0 then coalesce(workshop_sessions, 0) end as workshop_sessions,
        case when workshops > 0 then coalesce(workshop_participations, 0) end as workshop_participations,
        case when workshops > 0 then coalesce(workshop_unique_participants, 0) end as workshop_unique_participants,
        symposia,
        case when symposia > 0 then coalesce(symposium_participants, 0) end as symposium_participants,
        surveyed_events,
        case when surveyed_events > 0 then survey_answers end as survey_answers,
        case when surveyed_events > 0 then coalesce(survey_positive, 0) end as survey_positive,
        art_contract_yen,
        exhibitions_days_unknown
    from figures
),

ratios as (
    select
        *,
        case when exhibitions_days_unknown = 0
             then exhibition_visitors::double / nullif(exhibition_open_days, 0)
        end as exhibition_visitors_per_day_exact,
        coalesce(exhibition_visitors, 0) + coalesce(workshop_participations, 0)
            + coalesce(symposium_participants, 0) as total_reach,
        coalesce(exhibition_visitors, 0) + coalesce(workshop_unique_participants, 0)
            + coalesce(symposium_participants, 0) as total_people
    from counted
),

-- 3 significant figures: the report prints 293.125 as 293 and 85.3 as 85.3.
per_day as (
    select
        *,
        case when exhibition_visitors_per_day_exact > 0
             then greatest(0, 2 - floor(log10(exhibition_visitors_per_day_exact)))::integer
             when exhibition_visitors_per_day_exact = 0 then 0
        end as exhibition_visitors_per_day_decimals
    from ratios
),

final as (
    select
        city_code,
        exhibitions,
        exhibition_open_days,
        exhibition_visitors,
        exhibition_visitors_per_day_exact,
        round(exhibition_visitors_per_day_exact, exhibition_visitors_per_day_decimals)
            as exhibition_visitors_per_day,
        exhibition_visitors_per_day_decimals,
        workshops,
        workshop_sessions,
        workshop_participations,
        workshop_unique_participants,
        symposia,
        symposium_participants,
        surveyed_events,
        survey_answers,
        survey_positive,
        round(100.0 * survey_positive / nullif(survey_answers, 0), 1)::double as survey_positive_pct,
        total_reach,
        total_people,
        case when city_code is null then art_contract_yen end as art_contract_yen,
        case when city_code is null then round(art_contract_yen / nullif(total_reach, 0), 0)::double end
            as cost_per_contact_yen,
        case when city_code is null then round(art_contract_yen / nullif(total_people, 0), 0)::double end
            as cost_per_person_yen
    from per_day
)

select * from final
