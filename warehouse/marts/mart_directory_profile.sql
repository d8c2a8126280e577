-- 地域資源マップ's facet profiles: one row per distinct combination of facet values among mapped organisations, with how many share it
-- grain: profile_id
-- columns:
--   profile_id            profile number (1-based, in the order of the other columns); mart_org_directory.profile_id points here
--   city_code             所在市 (city.code)
--   legal_form_code       法人格 (legal_form.code); null when not recorded
--   pf_intent_code        PF参画意向 (pf_intent.code); null without an answer
--   survey_status         answered or not_answered
--   content_group_codes   content groups chosen (sorted codes); empty without an answer
--   content_codes         activity-content categories chosen (sorted codes); empty without an answer
--   form_codes            support forms chosen (sorted codes); empty without an answer
--   target_codes          target groups chosen (sorted codes); empty without an answer
--   legend_group          map colour group, as mart_org_directory.legend_group (the form lowest on the gradient, off_gradient or no_answer)
--   orgs                  mapped organisations with exactly this profile (profiles do not overlap, so sums are exact)
with

organization as (
    select * from organization
),

location as (
    select * from location
),

int_org_term as (
    select * from int_org_term
),

-- as on the map: only organisations with a pin
mapped as (
    select o.*
    from organization as o
    where exists (select 1 from location as l where l.organization_id = o.id and l.latitude is not null)
),

lists as (
    select
        organization_id,
        list_sort(list_distinct(list(group_code) filter (where taxonomy_id = 'content'))) as content_group_codes,
        list_sort(list(code) filter (where taxonomy_id = 'content')) as content_codes,
        list_sort(list(code) filter (where taxonomy_id = 'form')) as form_codes,
        list_sort(list(code) filter (where taxonomy_id = 'target')) as target_codes,
        arg_min(code, gradient_rank) filter (where taxonomy_id = 'form' and gradient_rank is not null) as primary_form_code
    from int_org_term
    group by organization_id
),

profiles as (
    select
        o.city_code,
        o.legal_form_code,
        o.pf_intent_code,
        case when o.survey_answered then 'answered' else 'not_answered' end as survey_status,
        coalesce(l.content_group_codes, []) as content_group_codes,
        coalesce(l.content_codes, []) as content_codes,
        coalesce(l.form_codes, []) as form_codes,
        coalesce(l.target_codes, []) as target_codes,
        case
            when l.primary_form_code is not null then l.primary_form_code
            when o.survey_answered then 'off_gradient'
            else 'no_answer'
        end as legend_group,
        count(*) as orgs
    from mapped as o
    left join lists as l on l.organization_id = o.id
    group by all
),

final as (
    select
        row_number() over (order by city_code, legal_form_code, pf_intent_code, survey_status, content_group_codes,
            content_codes, form_codes, target_codes) as profile_id,
        *
    from profiles
    order by profile_id
)

select * from final
