-- one row per art-project event: where and when, visitors per open day, participations, unique participants and venue-survey result; built after mart_event_answers
-- grain: event_id
-- columns:
--   event_id                  event.id
--   kind                      exhibition, workshop or symposium
--   title                     名称
--   artist_or_programme       アーティスト・プログラム
--   city_code                 city hosting the event (city.code)
--   venue                     会場
--   venue_address             会場住所
--   start_date                開始日
--   end_date                  終了日
--   open_days                 開催日数 (days the event was open); null = unreadable in the source
--   sessions                  開催回 rows: open days of an exhibition, sessions of a workshop
--   visitors                  exhibitions: 来場者数 summed over the open days; null for other kinds
--   visitors_per_day_exact    visitors ÷ open_days, unrounded; null (unknown) when open_days is null
--   visitors_per_day          the same rounded half away from zero to 3 significant figures, as the report prints it (293.125 → 293, 85.3 → 85.3)
--   visitors_per_day_decimals decimals of visitors_per_day
--   participations            workshops and symposium: 参加者数 summed over sessions (延べ); null for exhibitions
--   unique_participants       workshops: distinct 参加者ID in 出欠 over the workshop's sessions (実人数: a person at several sessions counts once); null for other kinds
--   survey_answers            venue-survey answers, 無回答 included; null without a survey
--   survey_positive           answers すごく感じた or 感じた
--   survey_positive_pct       survey_positive ÷ survey_answers × 100, one decimal
--   comments                  free-text comments (自由記述)
with

event as (
    select * from event
),

event_session as (
    select * from event_session
),

attendance as (
    select * from int_event_attendance
),

answers as (
    select * from mart_event_answers
),

event_comment as (
    select * from event_comment
),

sessions as (
    select
        event_id,
        count(*) as sessions,
        sum(visitors)::bigint as visitors,
        sum(participants)::bigint as participations
    from event_session
    group by event_id
),

people as (
    select
        event_id,
        count(distinct participant_id) as unique_participants
    from attendance
    group by event_id
),

survey as (
    select
        event_id,
        sum(answers)::bigint as survey_answers,
        coalesce((sum(answers) filter (where polarity = 'positive'))::bigint, 0) as survey_positive
    from answers
    group by event_id
),

comments as (
    select event_id, count(*) as comments
    from event_comment
    group by event_id
),

joined as (
    select
        e.*,
        coalesce(s.sessions, 0) as sessions,
        case when e.kind = 'exhibition' then coalesce(s.visitors, 0) end as visitors,
        case when e.kind <> 'exhibition' then coalesce(s.participations, 0) end as participations,
        case when e.kind = 'workshop' then coalesce(p.unique_participants, 0) end as unique_participants,
        v.survey_answers,
        v.survey_positive,
        coalesce(c.comments, 0) as comments
    from event as e
    left join sessions as s on s.event_id = e.id
    left join people as p on p.event_id = e.id
    left join survey as v on v.event_id = e.id
    left join comments as c on c.event_id = e.id
),

-- 3 significant figures: the report prints 293.125 as 293 and 85.3 as 85.3.
per_day as (
    select
        *,
        visitors::double / nullif(open_days, 0) as visitors_per_day_exact,
        case when visitors > 0 then greatest(0, 2 - floor(log10(visitors::double / open_days)))::integer
             when visitors = 0 and open_days is not null then 0
        end as visitors_per_day_decimals
    from joined
),

final as (
    select
        id as event_id,
        kind,
        title,
        artist_or_programme,
        city_code,
        venue,
        venue_address,
        start_date,
        end_date,
        open_days,
        sessions,
        visitors,
        visitors_per_day_exact,
        round(visitors_per_day_exact, visitors_per_day_decimals) as visitors_per_day,
        visitors_per_day_decimals,
        participations,
        unique_participants,
        survey_answers,
        survey_positive,
        round(100.0 * survey_positive / nullif(survey_answers, 0), 1)::double as survey_positive_pct,
        comments
    from per_day
)

select * from final
