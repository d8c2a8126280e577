-- art-project figures per 年度 and kind of event: events, sessions, open days, visitors and participations (延べ) (reads every year; the latest year's totals equal mart_art_totals for the four cities)
-- grain: fiscal_year, kind
-- columns:
--   fiscal_year     年度 (西暦 start year)
--   kind            exhibition, workshop or symposium
--   events          events of the kind held that year
--   sessions        their sessions or open days (開催回)
--   open_days       開催日数 summed over the events; an unreadable (null) 開催日数 is left out of the sum
--   visitors        来場者数 summed over the sessions; null when no session recorded visitors
--   participations  参加者数 summed over the sessions (延べ); null when no session recorded participants
with

event as (
    select * from event
),

event_session as (
    select * from event_session
),

events as (
    select
        fiscal_year,
        kind,
        count(*) as events,
        sum(open_days)::bigint as open_days
    from event
    group by fiscal_year, kind
),

sessions as (
    select
        e.fiscal_year,
        e.kind,
        count(*) as sessions,
        sum(s.visitors)::bigint as visitors,
        sum(s.participants)::bigint as participations
    from event_session as s
    join event as e on e.id = s.event_id and e.fiscal_year = s.fiscal_year
    group by e.fiscal_year, e.kind
),

final as (
    select
        e.fiscal_year,
        e.kind,
        e.events,
        coalesce(s.sessions, 0) as sessions,
        e.open_days,
        s.visitors,
        s.participations
    from events as e
    left join sessions as s on s.fiscal_year = e.fiscal_year and s.kind = e.kind
)

select * from final
