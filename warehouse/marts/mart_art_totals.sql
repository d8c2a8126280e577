-- art-project event totals for each city and for the four cities together (city_code null): the one place where participations, visitors and open days are summed; mart_event_kpis, mart_city_kpis and pii.mart_city_consultees read it
-- grain: city_code
-- columns:
--   city_code                 city.code of the events' host city; null = 4市全体 (all four cities)
--   exhibitions               exhibitions held (展示)
--   exhibition_open_days      開催日数 summed over the exhibitions (venue-days); null when none; an unreadable (null) 開催日数 is left out of the sum
--   exhibition_visitors       来場者数 summed over the exhibitions' open days; null when no exhibition session
--   workshops                 workshops held (ワークショップ)
--   workshop_sessions         workshop sessions held (開催回)
--   workshop_participations   参加者数 summed over workshop sessions (延べ: one person at three sessions counts three times); null when no session
--   workshop_unique_participants  実人数: distinct 参加者ID in 出欠 over the scope's workshop sessions; a person at several sessions or workshops counts once; null when no attendance
--   symposia                  symposia held (シンポジウム)
--   symposium_participants    参加者数 of the symposium sessions; null when no symposium session
with

city as (
    select * from city
),

event as (
    select * from event
),

session as (
    select * from int_event_session
),

attendance as (
    select * from int_event_attendance
),

scopes as (
    select code as city_code from city
    union all
    select null
),

events as (
    select
        city_code,
        count(*) filter (where kind = 'exhibition') as exhibitions,
        count(*) filter (where kind = 'workshop') as workshops,
        count(*) filter (where kind = 'symposium') as symposia,
        (sum(open_days) filter (where kind = 'exhibition'))::bigint as exhibition_open_days
    from event
    group by grouping sets ((city_code), ())
),

sessions as (
    select
        s.city_code,
        (sum(s.visitors) filter (where s.kind = 'exhibition'))::bigint as exhibition_visitors,
        count(*) filter (where s.kind = 'workshop') as workshop_sessions,
        (sum(s.participants) filter (where s.kind = 'workshop'))::bigint as workshop_participations,
        (sum(s.participants) filter (where s.kind = 'symposium'))::bigint as symposium_participants
    from session as s
    group by grouping sets ((s.city_code), ())
),

people as (
    select
        city_code,
        count(distinct participant_id) as workshop_unique_participants
    from attendance
    where kind = 'workshop'
    group by grouping sets ((city_code), ())
),

final as (
    select
        sc.city_code,
        coalesce(ev.exhibitions, 0) as exhibitions,
        ev.exhibition_open_days,
        se.exhibition_visitors,
        coalesce(ev.workshops, 0) as workshops,
        se.workshop_sessions,
        se.workshop_participations,
        pe.workshop_unique_participants,
        coalesce(ev.symposia, 0) as symposia,
        se.symposium_participants
    from scopes as sc
    left join events as ev on ev.city_code is not distinct from sc.city_code
    left join sessions as se on se.city_code is not distinct from sc.city_code
    left join people as pe on pe.city_code is not distinct from sc.city_code
)

select * from final
