-- one row per organisation that answered the survey: the public contact details a referral needs (相談つなぎ)
-- columns:
--   organization_id   organization.id
--   service_id        service.id (its survey answer: taxonomy terms hang off it in attribute)
--   name              団体名
--   name_key          matching key, for a stable order among equals
--   city_code         所在市 (organization.city_code)
--   address           public street address: the distribution list's, else the map pin's
--   phone             the organisation's public phone (never a contact person's)
--   fax               FAX number
--   hours             活動日時 from the survey, else 活動時間 on the map pin
--   languages         対応言語, joined with 、
--   accessibility     バリアフリー対応, joined with 、
--   latitude          map pin latitude (WGS84 degrees); null when the organisation has no pin
--   longitude         map pin longitude (WGS84 degrees); null when the organisation has no pin
--   last_verified     最終確認日 of the pin; null without a pin
--   area_city_codes   service area: city codes of the four cities it serves (list, display order)
--   area_names_ja     service area in Japanese, joined with ・ (4市以外 last)
--   area_names_en     service area in English, joined with ", " (Outside the four cities last)
with

organization as (
    select * from organization
),

service as (
    select * from service
),

location as (
    select * from location
),

service_area as (
    select * from service_area
),

city as (
    select * from city
),

-- 4市以外 (city_code null) sorts after the four cities
areas as (
    select
        sa.service_id,
        list(sa.city_code order by c.sort_order) filter (where sa.city_code is not null) as area_city_codes,
        string_agg(coalesce(c.name_ja, '4市以外'), '・' order by c.sort_order nulls last) as area_names_ja,
        string_agg(coalesce(c.name_en, 'Outside the four cities'), ', ' order by c.sort_order nulls last)
            as area_names_en
    from service_area as sa
    left join city as c on c.code = sa.city_code
    group by sa.service_id
),

final as (
    select
        o.id as organization_id,
        s.id as service_id,
        o.name,
        o.name_key,
        o.city_code,
        coalesce(o.address, l.address) as address,
        o.phone,
        o.fax,
        coalesce(s.hours, l.hours) as hours,
        s.languages,
        s.accessibility,
        l.latitude,
        l.longitude,
        l.last_verified,
        coalesce(a.area_city_codes, []::varchar[]) as area_city_codes,
        a.area_names_ja,
        a.area_names_en
    from service as s
    join organization as o on o.id = s.organization_id
    left join location as l on l.organization_id = o.id
    left join areas as a on a.service_id = s.id
    where o.survey_answered
    order by o.city_code, o.name_key
)

select * from final
