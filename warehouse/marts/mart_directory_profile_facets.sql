-- 地域資源マップ's facet counts with no filter chosen (the page's first view), summed from mart_directory_profile at build
-- grain: facet, code
-- columns:
--   facet   map facet (content_group, content_category, form, target, city, legal_form, pf_intent, survey)
--   code    option code (taxonomy_term.code, city.code, legal_form.code, pf_intent.code, answered / not_answered)
--   orgs    mapped organisations with this option (each counted once per option)
with

mart_directory_profile as (
    select * from mart_directory_profile
),

final as (
    select 'content_group' as facet, code, sum(orgs)::bigint as orgs
    from (select orgs, unnest(content_group_codes) as code from mart_directory_profile) group by code
    union all
    select 'content_category', code, sum(orgs)::bigint
    from (select orgs, unnest(content_codes) as code from mart_directory_profile) group by code
    union all
    select 'form', code, sum(orgs)::bigint
    from (select orgs, unnest(form_codes) as code from mart_directory_profile) group by code
    union all
    select 'target', code, sum(orgs)::bigint
    from (select orgs, unnest(target_codes) as code from mart_directory_profile) group by code
    union all
    select 'city', city_code, sum(orgs)::bigint from mart_directory_profile group by city_code
    union all
    select 'legal_form', legal_form_code, sum(orgs)::bigint from mart_directory_profile group by legal_form_code
    union all
    select 'pf_intent', pf_intent_code, sum(orgs)::bigint from mart_directory_profile group by pf_intent_code
    union all
    select 'survey', survey_status, sum(orgs)::bigint from mart_directory_profile group by survey_status
    order by facet, code
)

select * from final
