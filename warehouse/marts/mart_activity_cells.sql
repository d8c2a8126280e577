-- 活動分布's organisation counts per filter cell (city, legal form, PF intent, channel, answered), computed once at build
-- grain: city_code, legal_form_code, pf_intent_code, distribution_channel_code, survey_answered
-- columns:
--   city_code                   所在市 (organization.city_code)
--   legal_form_code             法人格 (legal_form.code); null when not recorded
--   pf_intent_code              PF参画意向 (pf_intent.code); null without an answer
--   distribution_channel_code   配布方法 (channel.code); null when not recorded
--   survey_answered             whether these organisations answered the survey
--   orgs                        organisations in the cell (every organisation is in exactly one cell, so sums are exact)
with

organization as (
    select * from organization
),

final as (
    select
        city_code,
        legal_form_code,
        pf_intent_code,
        distribution_channel_code,
        survey_answered,
        count(*) as orgs
    from organization
    group by all
    order by all
)

select * from final
