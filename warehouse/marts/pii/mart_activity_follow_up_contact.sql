-- sensitive: 活動分布's follow-up list's contact person per non-respondent (the one from the organisation's first source list, else the first list by name), in the list's order; read only through warehouse.query.activity for staff (warehouse/masking.py)
-- grain: organization_id
-- columns:
--   organization_id   mart_activity_follow_up.organization_id (non-respondents with a contact person only)
--   list_order        mart_activity_follow_up.list_order
--   contact_name      the contact person's name (pii.organization_contact)
--   contact_email     the contact person's e-mail
--   contact_phone     the contact person's phone
with

follow_up as (
    select * from mart_activity_follow_up
),

organization as (
    select * from organization
),

organization_contact as (
    select * from pii.organization_contact
),

-- Ranked at build time: the page lists the first rows of a region's non-respondents with these contacts.
final as (
    select
        f.organization_id,
        f.list_order,
        x.contact_name,
        x.contact_email,
        x.contact_phone
    from follow_up as f
    join organization_contact as x on x.organization_id = f.organization_id
    join organization as g on g.id = x.organization_id
    qualify row_number() over (
        partition by x.organization_id order by x.source_list <> g.first_source_list, x.source_list
    ) = 1
    order by f.list_order
)

select * from final
