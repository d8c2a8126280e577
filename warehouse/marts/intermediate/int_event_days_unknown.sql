-- intermediate (built before the marts, dropped after them): exhibitions whose 開催日数 was unreadable (null) for each city and for the four cities together (city_code null), which a sum of open days would leave out; read by mart_city_kpis and mart_event_kpis
-- grain: city_code
-- columns:
--   city_code                  city.code of the events' host city; null = 4市全体 (all four cities)
--   exhibitions_days_unknown   exhibitions with a null 開催日数
with

event as (
    select * from event
),

final as (
    select
        city_code,
        count(*) filter (where kind = 'exhibition' and open_days is null) as exhibitions_days_unknown
    from event
    group by grouping sets ((city_code), ())
)

select * from final
