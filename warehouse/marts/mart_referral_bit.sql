-- one row per taxonomy term: its bit in the per-facet term masks of mart_referral_directory (相談つなぎ matches a need with bitwise and); the build fails if a taxonomy has more than 63 terms
-- grain: term_id
-- columns:
--   term_id       taxonomy_term.id
--   taxonomy_id   the term's taxonomy (content, form, target), which is the facet of its mask
--   bit           1 << (position of the term in its taxonomy, by sort_order then id, from 0)
with

taxonomy_term as (
    select * from taxonomy_term
),

positions as (
    select
        id as term_id,
        taxonomy_id,
        row_number() over (partition by taxonomy_id order by sort_order, id) - 1 as position
    from taxonomy_term
),

final as (
    select
        term_id,
        taxonomy_id,
        case
            when position > 62 then error('mart_referral_bit: more than 63 terms in taxonomy ' || taxonomy_id)
            else (1::bigint << position::integer)
        end as bit
    from positions
    order by taxonomy_id, position
)

select * from final
