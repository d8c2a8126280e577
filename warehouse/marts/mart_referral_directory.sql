-- one row per organisation that answered the survey: the public contact details a referral needs, and the terms it chose as bit masks (相談つなぎ); built after mart_referral_bit
-- grain: organization_id
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
--   content_mask      activity-content terms its answer chose (attribute link_type content): bit_or of mart_referral_bit.bit
--   form_mask         support forms it chose (link_type form): bit_or of mart_referral_bit.bit
--   target_mask       target groups it chose (link_type target): bit_or of mart_referral_bit.bit
--   name_rank         rank of name_key (equal keys share a rank): orders results by name with an integer sort
--   list_rank         order of the directory's point list: city (city.sort_order), then name_key, then id
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

int_org_term as (
    select * from int_org_term
),

mart_referral_bit as (
    select * from mart_referral_bit
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

-- a need is matched against these masks with bitwise and (相談つなぎ); a term answered twice sets its bit once
terms as (
    select
        c.organization_id,
        bit_or(b.bit) filter (where c.taxonomy_id = 'content') as content_mask,
        bit_or(b.bit) filter (where c.taxonomy_id = 'form') as form_mask,
        bit_or(b.bit) filter (where c.taxonomy_id = 'target') as target_mask
    from int_org_term as c
    join mart_referral_bit as b on b.term_id = c.term_id and b.taxonomy_id = c.taxonomy_id
    group by c.organization_id
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
        a.area_names_en,
        coalesce(tm.content_mask, 0) as content_mask,
        coalesce(tm.form_mask, 0) as form_mask,
        coalesce(tm.target_mask, 0) as target_mask,
        dense_rank() over (order by o.name_key) as name_rank,
        row_number() over (order by c.sort_order, o.name_key, o.id) as list_rank
    from service as s
    join organization as o on o.id = s.organization_id
    left join location as l on l.organization_id = o.id
    left join areas as a on a.service_id = s.id
    left join terms as tm on tm.organization_id = o.id
    left join city as c on c.code = o.city_code
    where o.survey_answered
    -- by density hexagon (warehouse/macros.sql hex_cell), pins first: a radius search reads few row groups
    order by hex_cell(l.latitude, l.longitude).q nulls last, hex_cell(l.latitude, l.longitude).r nulls last, o.name_key, o.id
)

select * from final
