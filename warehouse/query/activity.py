"""活動分布: activity contents, support forms, breakdowns and survey reach under shared filters."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl

from warehouse.query import NAME_COLUMN, PUBLIC, Viewer, city_filter, fetch, fetch_one, where

# Roles that may read the contact persons of organisations (pii.organization_contact).
CONTACT_ROLES = ("city_manager", "liaison", "admin")
# What everyone else sees in place of a contact person's details.
MASK = "＊＊＊"
# The contact person's columns of the follow-up list (identifiers, never values).
CONTACT_COLUMNS = ("contact_name", "contact_email", "contact_phone")
# Label of an organisation whose legal form or channel is not recorded.
UNKNOWN = "—"
# Identifier allow-lists: the only label columns a query may select.
TERM_NAME = {"ja": "name", "en": "name_en"}
MEASURES = {"group": "content", "form": "form"}  # breakdown measure → taxonomy it counts
BREAKDOWNS = ("city", "legal_form", "target")
REACH_DIMENSIONS = ("city", "legal_form", "channel")

# Organisations (alias o, answering, in scope) per breakdown value: one fixed statement per dimension.
# {name} is a column from NAME_COLUMN / TERM_NAME, never a value.
_BREAKDOWN_DIMENSION = {
    "city": (
        "select o.id as organization_id, d.code as by_code, d.{name} as by_label, d.sort_order as by_order "
        "from scoped as o join city as d on d.code = o.city_code"
    ),
    "legal_form": (
        "select o.id as organization_id, d.code as by_code, d.{name} as by_label, d.sort_order as by_order "
        "from scoped as o join legal_form as d on d.code = o.legal_form_code"
    ),
    "target": (
        "select o.id as organization_id, d.code as by_code, d.{name} as by_label, d.sort_order as by_order "
        "from scoped as o join mart_activity_term as m on m.organization_id = o.id and m.taxonomy_id = 'target' "
        "join taxonomy_term as d on d.id = m.term_id"
    ),
}
# Survey reach per dimension: the vocabulary table and the organisation column it labels.
_REACH_DIMENSION = {
    "city": ("city", "city_code"),
    "legal_form": ("legal_form", "legal_form_code"),
    "channel": ("channel", "distribution_channel_code"),
}


@dataclass(frozen=True)
class ActivityFilter:
    """The page's filters: city (None = 4市全体), legal forms and PF intents (empty = all)."""

    city_code: str | None = None
    legal_forms: tuple[str, ...] = ()
    pf_intents: tuple[str, ...] = ()


def organisation_filter(alias: str, filters: ActivityFilter, *, intent: bool = True) -> tuple[list[str], list]:
    """Filter fragments on an organisation-level row (alias from the caller's code); intent=False skips PF intent."""
    fragments, params = city_filter(f"{alias}.city_code", filters.city_code)
    if filters.legal_forms:
        fragments.append(f"list_contains(?::varchar[], {alias}.legal_form_code)")
        params.append(list(filters.legal_forms))
    if intent and filters.pf_intents:
        fragments.append(f"list_contains(?::varchar[], {alias}.pf_intent_code)")
        params.append(list(filters.pf_intents))
    return fragments, params


def legal_forms(con: duckdb.DuckDBPyConnection, lang: str, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """Legal forms (code, label) in display order, for the filter."""
    return fetch(con, "select code, " + NAME_COLUMN[lang] + " as label from legal_form order by sort_order")


def pf_intents(con: duckdb.DuckDBPyConnection, lang: str, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """PF participation intents (code, label) in display order, for the filter."""
    return fetch(con, "select code, " + NAME_COLUMN[lang] + " as label from pf_intent order by sort_order")


def content_groups(con: duckdb.DuckDBPyConnection, lang: str, viewer: Viewer = PUBLIC) -> pl.DataFrame:
    """Activity-content groups (code, label) in taxonomy order, for the drill-down."""
    return fetch(
        con,
        "select code, " + TERM_NAME[lang] + " as label from taxonomy_term "
        "where taxonomy_id = 'content' and parent_id is null order by sort_order",
    )


def respondents(con: duckdb.DuckDBPyConnection, filters: ActivityFilter, viewer: Viewer = PUBLIC) -> int:
    """N: organisations that answered the survey within the filters."""
    fragments, params = organisation_filter("o", filters)
    row = fetch_one(
        con, "select count(*) as n from organization as o" + where(["o.survey_answered", *fragments]), params
    )
    return row["n"] if row else 0


def content_counts(
    con: duckdb.DuckDBPyConnection, filters: ActivityFilter, lang: str, viewer: Viewer = PUBLIC
) -> pl.DataFrame:
    """Organisations per content group and category (once per category, once per group), largest first."""
    # group_rank: the group's place in the whole taxonomy (1-based), so colours stay put under filters.
    # Shares are % of N (answering organisations in scope), one decimal; unchosen categories are left out.
    fragments, params = organisation_filter("m", filters)
    answered, answered_params = organisation_filter("o", filters)
    name = TERM_NAME[lang]
    sql = (
        "with scoped as (select * from mart_activity_term as m"
        + where(["m.taxonomy_id = 'content'", *fragments])
        + "), groups as (select group_id, count(distinct organization_id) as group_orgs "
        "from scoped group by group_id), "
        "categories as (select group_id, term_id, count(distinct organization_id) as category_orgs "
        "from scoped group by group_id, term_id), "
        "ranks as (select id, row_number() over (order by sort_order) as group_rank from taxonomy_term "
        "where taxonomy_id = 'content' and parent_id is null), "
        "n as (select count(*) as n from organization as o"
        + where(["o.survey_answered", *answered])
        + ") select g.code as group_code, g." + name + " as group_label, r.group_rank, s.group_orgs, "
        "round(100.0 * s.group_orgs / n.n, 1) as group_share_pct, "
        "t.code as category_code, t." + name + " as category_label, c.category_orgs, "
        "round(100.0 * c.category_orgs / n.n, 1) as category_share_pct "
        "from categories as c join groups as s on s.group_id = c.group_id "
        "join taxonomy_term as g on g.id = c.group_id join ranks as r on r.id = c.group_id "
        "join taxonomy_term as t on t.id = c.term_id cross join n "
        "order by s.group_orgs desc, g.sort_order, c.category_orgs desc, t.sort_order"
    )
    return fetch(con, sql, [*params, *answered_params])


def form_counts(
    con: duckdb.DuckDBPyConnection, filters: ActivityFilter, lang: str, viewer: Viewer = PUBLIC
) -> pl.DataFrame:
    """Organisations per support form (zeros kept), most frequent first, with share of N in % (one decimal)."""
    fragments, params = organisation_filter("m", filters)
    answered, answered_params = organisation_filter("o", filters)
    sql = (
        "with scoped as (select * from mart_activity_term as m"
        + where(["m.taxonomy_id = 'form'", *fragments])
        + "), counts as (select term_id, count(distinct organization_id) as orgs from scoped group by term_id), "
        "n as (select count(*) as n from organization as o"
        + where(["o.survey_answered", *answered])
        + ") select row_number() over (order by coalesce(c.orgs, 0) desc, t.sort_order) as rank, "
        "t.code as form_code, t." + TERM_NAME[lang] + " as form_label, t.color_hex, "
        "coalesce(c.orgs, 0) as orgs, "
        "case when n.n = 0 then null else round(100.0 * coalesce(c.orgs, 0) / n.n, 1) end as share_pct "
        "from taxonomy_term as t left join counts as c on c.term_id = t.id cross join n "
        "where t.taxonomy_id = 'form' order by rank"
    )
    return fetch(con, sql, [*params, *answered_params])


def form_city_matrix(
    con: duckdb.DuckDBPyConnection, filters: ActivityFilter, lang: str, viewer: Viewer = PUBLIC
) -> pl.DataFrame:
    """City × support form: organisations per cell (zeros kept); cities in display order, forms by rank."""
    fragments, params = organisation_filter("m", filters)
    cities, city_params = city_filter("c.code", filters.city_code)
    name = TERM_NAME[lang]
    sql = (
        "with scoped as (select * from mart_activity_term as m"
        + where(["m.taxonomy_id = 'form'", *fragments])
        + "), cells as (select city_code, term_id, count(distinct organization_id) as orgs "
        "from scoped group by city_code, term_id), "
        "totals as (select term_id, count(distinct organization_id) as orgs from scoped group by term_id), "
        "forms as (select t.*, row_number() over (order by coalesce(x.orgs, 0) desc, t.sort_order) as form_rank "
        "from taxonomy_term as t left join totals as x on x.term_id = t.id where t.taxonomy_id = 'form') "
        "select c.code as city_code, c." + NAME_COLUMN[lang] + " as city_label, "
        "f.code as form_code, f." + name + " as form_label, f.form_rank, coalesce(x.orgs, 0) as orgs "
        "from city as c cross join forms as f "
        "left join cells as x on x.city_code = c.code and x.term_id = f.id"
        + where(cities)
        + " order by c.sort_order, f.form_rank"
    )
    return fetch(con, sql, [*params, *city_params])


def breakdown(
    con: duckdb.DuckDBPyConnection,
    filters: ActivityFilter,
    lang: str,
    measure: str,
    by: str,
    viewer: Viewer = PUBLIC,
) -> pl.DataFrame:
    """Organisations per breakdown value (city, legal form, target group) and term (content group or form)."""
    # respondents: answering organisations with that value; share_pct = orgs / respondents × 100.
    # Zeros are kept so every panel of a small-multiples chart lists the same terms.
    taxonomy = MEASURES[measure]
    dimension = _BREAKDOWN_DIMENSION[by].format(name=TERM_NAME[lang] if by == "target" else NAME_COLUMN[lang])
    term_key = "m.group_id" if measure == "group" else "m.term_id"
    term_filter = "t.parent_id is null" if measure == "group" else "true"
    fragments, params = organisation_filter("o", filters)
    sql = (
        "with scoped as (select * from organization as o"
        + where(["o.survey_answered", *fragments])
        + "), dims as (" + dimension + "), "
        "by_values as (select by_code, by_label, by_order, count(distinct organization_id) as respondents "
        "from dims group by all), "
        "counts as (select d.by_code, " + term_key + " as term_id, count(distinct d.organization_id) as orgs "
        "from dims as d join mart_activity_term as m on m.organization_id = d.organization_id "
        "and m.taxonomy_id = ? group by all), "
        "terms as (select * from taxonomy_term as t where t.taxonomy_id = ? and " + term_filter + ") "
        "select v.by_code, v.by_label, v.respondents, t.code as term_code, t." + TERM_NAME[lang] + " as term_label, "
        "t.color_hex, coalesce(c.orgs, 0) as orgs, "
        "round(100.0 * coalesce(c.orgs, 0) / v.respondents, 1) as share_pct "
        "from by_values as v cross join terms as t "
        "left join counts as c on c.by_code = v.by_code and c.term_id = t.id "
        "order by v.by_order, t.sort_order"
    )
    return fetch(con, sql, [*params, taxonomy, taxonomy])


def reach_total(con: duckdb.DuckDBPyConnection, filters: ActivityFilter, viewer: Viewer = PUBLIC) -> dict:
    """Distributed, answered and response rate (%, one decimal) within city and legal-form filters."""
    fragments, params = organisation_filter("o", filters, intent=False)
    return fetch_one(
        con,
        "select count(*) as distributed, count(*) filter (where o.survey_answered) as answered, "
        "case when count(*) = 0 then null "
        "else round(100.0 * count(*) filter (where o.survey_answered) / count(*), 1) end as rate_pct "
        "from organization as o" + where(fragments),
        params,
    )


def reach(
    con: duckdb.DuckDBPyConnection, filters: ActivityFilter, lang: str, by: str, viewer: Viewer = PUBLIC
) -> pl.DataFrame:
    """Distributed vs answered per city, legal form or distribution channel (PF intent does not apply)."""
    # Organisations without a value for the dimension form one last row labelled UNKNOWN.
    table, column = _REACH_DIMENSION[by]
    fragments, params = organisation_filter("o", filters, intent=False)
    sql = (
        "select d.code, coalesce(d." + NAME_COLUMN[lang] + ", ?) as label, count(*) as distributed, "
        "count(*) filter (where o.survey_answered) as answered, "
        "round(100.0 * count(*) filter (where o.survey_answered) / count(*), 1) as rate_pct "
        "from organization as o left join " + table + " as d on d.code = o." + column
        + where(fragments)
        + " group by d.code, d." + NAME_COLUMN[lang] + ", d.sort_order order by d.sort_order nulls last"
    )
    return fetch(con, sql, [UNKNOWN, *params])


def non_respondents(
    con: duckdb.DuckDBPyConnection, filters: ActivityFilter, lang: str, viewer: Viewer = PUBLIC
) -> pl.DataFrame:
    """Organisations that did not answer, for follow-up; contacts for CONTACT_ROLES (a city manager: own city)."""
    # The contact shown is the one from the organisation's first source list (else the first list by name);
    # other roles get the mask from a bound value, and their query never reads the pii schema.
    fragments, params = organisation_filter("o", filters, intent=False)
    name = NAME_COLUMN[lang]
    base = (
        "select o.name, c." + name + " as city, l." + name + " as legal_form, h." + name + " as channel, "
        "o.phone, {contact} from organization as o "
        "join city as c on c.code = o.city_code "
        "left join legal_form as l on l.code = o.legal_form_code "
        "left join channel as h on h.code = o.distribution_channel_code {join}"
        + where(["not o.survey_answered", *fragments])
        + " order by c.sort_order, o.name_key"
    )
    if viewer.role in CONTACT_ROLES:
        join = (
            "left join (select * from pii.organization_contact as x "
            "qualify row_number() over (partition by x.organization_id order by "
            "x.source_list <> (select first_source_list from organization where id = x.organization_id), "
            "x.source_list) = 1) as p on p.organization_id = o.id"
        )
        if viewer.role != "city_manager":
            return fetch(con, base.format(contact=", ".join("p." + c for c in CONTACT_COLUMNS), join=join), params)
        # A city manager reads their own city's contacts only; the other cities' rows carry the mask.
        contact = ", ".join("case when o.city_code = ? then p." + c + " else ? end as " + c for c in CONTACT_COLUMNS)
        own_city = [viewer.city_code, MASK] * len(CONTACT_COLUMNS)
        return fetch(con, base.format(contact=contact, join=join), [*own_city, *params])
    sql = base.format(contact="? as contact_name, ? as contact_email, ? as contact_phone", join="")
    return fetch(con, sql, [MASK, MASK, MASK, *params])
