"""活動分布: activity contents, support forms, breakdowns and survey reach under shared filters."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl

from common.roles import PUBLIC, Viewer
from warehouse import masking
from warehouse.query import NAME_COLUMN, city_filter, fetch, fetch_one, where

# Roles that may read the follow-up list and its contact persons (pii.organization_contact): staff, by
# warehouse/masking.py's rule (a city manager their own city's rows only).
CONTACT_ROLES = masking.STAFF_ROLES
# The contact person's columns of the follow-up list (identifiers, never values).
CONTACT_COLUMNS = ("contact_name", "contact_email", "contact_phone")
# Non-respondents listed on screen (the CSV carries them all).
NON_RESPONDENT_ROWS = 1_000
# Label of an organisation whose legal form or channel is not recorded.
UNKNOWN = "—"
# Identifier allow-lists: the only label columns a query may select.
TERM_NAME = {"ja": "name", "en": "name_en"}
MEASURES = {"group": "content", "form": "form"}  # breakdown measure → taxonomy it counts
BREAKDOWNS = ("city", "legal_form", "target")
REACH_DIMENSIONS = ("city", "legal_form", "channel")

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
    return _org_count(con, "mart_activity_cells as o", ["o.survey_answered", *fragments], params)


def _org_count(con: duckdb.DuckDBPyConnection, source: str, fragments: list[str], params: list) -> int:
    """Organisations summed over the build-time cells (source names them o, from the caller's code) the filters keep."""
    row = fetch_one(con, "select coalesce(sum(o.orgs), 0)::bigint as n from " + source + where(fragments), params)
    return row["n"] if row else 0


# Answering organisations in scope: the denominator N, summed over the build-time cells (one clause per query).
_N = "n as (select coalesce(sum(o.orgs), 0)::bigint as n from mart_activity_cells as o{where})"


def _n(filters: ActivityFilter) -> tuple[str, list]:
    """The n CTE (answering organisations within the filters) and its parameters."""
    fragments, params = organisation_filter("o", filters)
    return _N.format(where=where(["o.survey_answered", *fragments])), params


def _scoped_counts(filters: ActivityFilter, taxonomy: str, keys: str = "") -> tuple[str, list]:
    """Sum of the cells' organisations per term of one taxonomy (plus extra key columns of alias m), all cells of every
    organisation (target_id null) within the filters."""
    fragments, params = organisation_filter("m", filters)
    sql = (
        "select "
        + keys
        + "m.term_id, sum(m.orgs)::bigint as orgs from mart_activity_counts as m"
        + where(["m.target_id is null", "m.taxonomy_id = ?", *fragments])
        + " group by all"
    )
    return sql, [taxonomy, *params]


def content_counts(
    con: duckdb.DuckDBPyConnection, filters: ActivityFilter, lang: str, viewer: Viewer = PUBLIC
) -> pl.DataFrame:
    """Organisations per content group and category (once per category, once per group), largest first."""
    if filters.legal_forms or filters.pf_intents:
        return _content_counts(con, filters, lang)
    # No filter but the city (the default view): _content_counts' rows, computed at build in
    # mart_activity_content_share (planning that statement costs ~7 ms CPU at any size, reading the mart ~1 ms).
    name = TERM_NAME[lang]
    return fetch(
        con,
        "select group_code, group_" + name + " as group_label, group_rank, group_orgs, group_share_pct, "
        "category_code, category_" + name + " as category_label, category_orgs, category_share_pct "
        "from mart_activity_content_share where city_code is not distinct from ? order by content_order",
        [filters.city_code],
    )


def _content_counts(con: duckdb.DuckDBPyConnection, filters: ActivityFilter, lang: str) -> pl.DataFrame:
    """content_counts summed over the build-time cells the filters keep."""
    # group_rank: the group's place in the whole taxonomy (1-based), so colours stay put under filters.
    # Shares are % of N (answering organisations in scope), one decimal; unchosen categories are left out.
    # The counts are sums over mart_activity_counts' cells, which never share an organisation.
    groups, group_params = _scoped_counts(filters, "group")
    categories, category_params = _scoped_counts(filters, "content")
    n, n_params = _n(filters)
    name = TERM_NAME[lang]
    sql = (
        "with groups as (" + groups + "), categories as (" + categories + "), "
        "ranks as (select id, row_number() over (order by sort_order) as group_rank from taxonomy_term "
        "where taxonomy_id = 'content' and parent_id is null), " + n + " "
        "select g.code as group_code, g." + name + " as group_label, r.group_rank, s.orgs as group_orgs, "
        "round(100.0 * s.orgs / n.n, 1) as group_share_pct, "
        "t.code as category_code, t." + name + " as category_label, c.orgs as category_orgs, "
        "round(100.0 * c.orgs / n.n, 1) as category_share_pct "
        "from categories as c join taxonomy_term as t on t.id = c.term_id "
        "join groups as s on s.term_id = t.parent_id "
        "join taxonomy_term as g on g.id = t.parent_id join ranks as r on r.id = t.parent_id cross join n "
        "order by s.orgs desc, g.sort_order, c.orgs desc, t.sort_order"
    )
    return fetch(con, sql, [*group_params, *category_params, *n_params])


def form_counts(
    con: duckdb.DuckDBPyConnection, filters: ActivityFilter, lang: str, viewer: Viewer = PUBLIC
) -> pl.DataFrame:
    """Organisations per support form (zeros kept), most frequent first, with share of N in % (one decimal)."""
    counts, params = _scoped_counts(filters, "form")
    n, n_params = _n(filters)
    sql = (
        "with counts as (" + counts + "), " + n + " "
        "select row_number() over (order by coalesce(c.orgs, 0) desc, t.sort_order) as rank, "
        "t.code as form_code, t." + TERM_NAME[lang] + " as form_label, t.color_hex, "
        "coalesce(c.orgs, 0) as orgs, "
        "case when n.n = 0 then null else round(100.0 * coalesce(c.orgs, 0) / n.n, 1) end as share_pct "
        "from taxonomy_term as t left join counts as c on c.term_id = t.id cross join n "
        "where t.taxonomy_id = 'form' order by rank"
    )
    return fetch(con, sql, [*params, *n_params])


def form_city_matrix(
    con: duckdb.DuckDBPyConnection, filters: ActivityFilter, lang: str, viewer: Viewer = PUBLIC
) -> pl.DataFrame:
    """City × support form: organisations per cell (zeros kept); cities in display order, forms by rank."""
    cells, params = _scoped_counts(filters, "form", "m.city_code, ")
    cities, city_params = city_filter("c.code", filters.city_code)
    name = TERM_NAME[lang]
    sql = (
        "with cells as (" + cells + "), "
        "totals as (select term_id, sum(orgs) as orgs from cells group by term_id), "
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


# Breakdown value per build-time cell row (alias m of mart_activity_counts): its code column and vocabulary.
# The target breakdown reads the rows kept per chosen target group (target_id); the others, the all-rows.
_BREAKDOWN_KEY = {
    "city": ("m.city_code", "city", "m.target_id is null"),
    "legal_form": ("m.legal_form_code", "legal_form", "m.target_id is null"),
    "target": ("m.target_id", "taxonomy_term", "m.target_id is not null"),
}


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
    # Sums over mart_activity_counts' cells (which never share an organisation) are exact distinct counts.
    taxonomy = "group" if measure == "group" else MEASURES[measure]
    terms_of = MEASURES[measure]
    key, vocabulary, rows = _BREAKDOWN_KEY[by]
    label = TERM_NAME[lang] if by == "target" else NAME_COLUMN[lang]
    term_filter = "t.parent_id is null" if measure == "group" else "true"
    fragments, params = organisation_filter("m", filters)
    if by == "target":
        # Respondents per target group: answering organisations that chose it.
        values = (
            "select m.term_id as by_key, sum(m.orgs)::bigint as respondents from mart_activity_counts as m"
            + where(["m.target_id is null", "m.taxonomy_id = 'target'", *fragments])
            + " group by all"
        )
        value_params = list(params)
    else:
        cell_fragments, value_params = organisation_filter("o", filters)
        column = key.removeprefix("m.")
        values = (
            "select o."
            + column
            + " as by_key, sum(o.orgs)::bigint as respondents from mart_activity_cells as o"
            + where(["o.survey_answered", *cell_fragments])
            + " group by all"
        )
    sql = (
        "with by_values as (select v.by_key, d.code as by_code, d." + label + " as by_label, "
        "d.sort_order as by_order, v.respondents from ("
        + values
        + ") as v join "
        + vocabulary
        + " as d on d."
        + ("id" if by == "target" else "code")
        + " = v.by_key"
        + "), counts as (select "
        + key
        + " as by_key, m.term_id, sum(m.orgs)::bigint as orgs "
        "from mart_activity_counts as m" + where([rows, "m.taxonomy_id = ?", *fragments]) + " group by all), "
        "terms as (select * from taxonomy_term as t where t.taxonomy_id = ? and " + term_filter + ") "
        "select v.by_code, v.by_label, v.respondents, t.code as term_code, t." + TERM_NAME[lang] + " as term_label, "
        "t.color_hex, coalesce(c.orgs, 0) as orgs, "
        "round(100.0 * coalesce(c.orgs, 0) / v.respondents, 1) as share_pct "
        "from by_values as v cross join terms as t "
        "left join counts as c on c.by_key = v.by_key and c.term_id = t.id "
        "order by v.by_order, t.sort_order"
    )
    return fetch(con, sql, [*value_params, taxonomy, *params, terms_of])


def reach_total(con: duckdb.DuckDBPyConnection, filters: ActivityFilter, viewer: Viewer = PUBLIC) -> dict:
    """Distributed, answered and response rate (%, one decimal) within city and legal-form filters."""
    fragments, params = organisation_filter("o", filters, intent=False)
    return fetch_one(
        con,
        "select distributed, answered, case when distributed = 0 then null "
        "else round(100.0 * answered / distributed, 1) end as rate_pct from ("
        "select coalesce(sum(o.orgs), 0)::bigint as distributed, "
        "coalesce(sum(o.orgs) filter (where o.survey_answered), 0)::bigint as answered "
        "from mart_activity_cells as o" + where(fragments) + ")",
        params,
    )


def reach(
    con: duckdb.DuckDBPyConnection, filters: ActivityFilter, lang: str, by: str, viewer: Viewer = PUBLIC
) -> pl.DataFrame:
    """Distributed vs answered per city, legal form or distribution channel (PF intent does not apply)."""
    return reach_of(reaches(con, filters, lang, viewer), by)


def reach_of(frame: pl.DataFrame, by: str) -> pl.DataFrame:
    """One dimension's rows of a reaches frame, as reach returns them."""
    return frame.filter(pl.col("dimension") == by).drop("dimension")


def reaches(
    con: duckdb.DuckDBPyConnection, filters: ActivityFilter, lang: str, viewer: Viewer = PUBLIC
) -> pl.DataFrame:
    """reach for every REACH_DIMENSIONS value in one query, with its dimension column (the page's three tabs)."""
    # One statement instead of three: planning costs DuckDB ~2.5 ms CPU per statement and the cells are few.
    # Organisations without a value for a dimension form its last row labelled UNKNOWN (grouping() tells the
    # dimension a row counts, as its key may be null).
    fragments, params = organisation_filter("o", filters, intent=False)
    columns = [_REACH_DIMENSION[by][1] for by in REACH_DIMENSIONS]
    dimension = (
        "case "
        + " ".join(f"when grouping(o.{column}) = 0 then '{by}'" for by, column in zip(REACH_DIMENSIONS, columns))
        + " end"
    )
    vocabulary = " union all ".join(
        f"select '{by}' as dimension, code, {NAME_COLUMN[lang]} as name, sort_order from {_REACH_DIMENSION[by][0]}"
        for by in REACH_DIMENSIONS
    )
    sql = (
        "with cells as (select "
        + dimension
        + " as dimension, coalesce("
        + ", ".join(f"o.{column}" for column in columns)
        + ") as code, sum(o.orgs) as distributed, "
        "coalesce(sum(o.orgs) filter (where o.survey_answered), 0) as answered from mart_activity_cells as o"
        + where(fragments)
        + " group by grouping sets ("
        + ", ".join(f"(o.{column})" for column in columns)
        + ")), vocabulary as ("
        + vocabulary
        + "), final as (select c.dimension, d.code, coalesce(d.name, ?) as label, "
        "sum(c.distributed)::bigint as distributed, sum(c.answered)::bigint as answered, "
        "round(100.0 * sum(c.answered)::bigint / sum(c.distributed)::bigint, 1) as rate_pct, d.sort_order "
        "from cells as c left join vocabulary as d on d.dimension = c.dimension and d.code = c.code "
        "group by c.dimension, d.code, d.name, d.sort_order) "
        "select dimension, code, label, distributed, answered, rate_pct from final "
        "order by dimension, sort_order nulls last"
    )
    return fetch(con, sql, [*params, UNKNOWN])


class StaffOnly(PermissionError):
    """The follow-up list is an internal work list: the viewer's role may not read it."""


def may_see_follow_up(viewer: Viewer) -> bool:
    """Whether the viewer may see the follow-up list (of some city): masking.may_see_any's rule."""
    return masking.may_see_any("follow_up_list", viewer.role)


def follow_up_filter(filters: ActivityFilter, viewer: Viewer) -> tuple[list[str], list]:
    """The list's filters for this viewer: a city manager's own city only; StaffOnly for a viewer not allowed."""
    if not may_see_follow_up(viewer):
        raise StaffOnly("the follow-up list is for staff")
    fragments, params = organisation_filter("o", filters, intent=False)
    if not masking.may_see_everywhere("follow_up_list", viewer.role):
        fragments.append("o.city_code = ?")
        params.append(viewer.city_code)
    return fragments, params


def non_respondent_count(con: duckdb.DuckDBPyConnection, filters: ActivityFilter, viewer: Viewer = PUBLIC) -> int:
    """How many organisations within the city and legal-form filters did not answer (a published figure)."""
    fragments, params = organisation_filter("o", filters, intent=False)
    return _non_respondent_count(con, fragments, params)


def follow_up_count(con: duckdb.DuckDBPyConnection, filters: ActivityFilter, viewer: Viewer) -> int:
    """The rows of non_respondents for this viewer (a city manager: their own city's); StaffOnly if not allowed."""
    fragments, params = follow_up_filter(filters, viewer)
    return _non_respondent_count(con, fragments, params)


def _non_respondent_count(con: duckdb.DuckDBPyConnection, fragments: list[str], params: list) -> int:
    """Non-respondents under the given organisation filter fragments."""
    # Joined to city as non_respondents is, so the count is that list's length.
    return _org_count(
        con,
        "mart_activity_cells as o join city as c on c.code = o.city_code",
        ["not o.survey_answered", *fragments],
        params,
    )


def non_respondents(
    con: duckdb.DuckDBPyConnection, filters: ActivityFilter, lang: str, viewer: Viewer = PUBLIC
) -> pl.DataFrame:
    """Organisations that did not answer, with contacts, for follow-up: staff only (a city manager: own city)."""
    return _non_respondents(con, filters, lang, None, viewer)


def non_respondents_head(
    con: duckdb.DuckDBPyConnection, filters: ActivityFilter, lang: str, limit: int, viewer: Viewer = PUBLIC
) -> pl.DataFrame:
    """The first `limit` rows of non_respondents, in its order (what the page lists on screen)."""
    return _non_respondents(con, filters, lang, limit, viewer)


def _non_respondents(
    con: duckdb.DuckDBPyConnection, filters: ActivityFilter, lang: str, limit: int | None, viewer: Viewer
) -> pl.DataFrame:
    """non_respondents, cut to `limit` rows when given (the LIMIT is bound); StaffOnly for other viewers."""
    # A viewer who may not see the list never reaches the query (nor the pii schema). The contact shown is
    # the one from the organisation's first source list (else the first list by name), chosen at build time in
    # pii.mart_activity_follow_up_contact (ranking the contacts here cost ~0.4 s at a million organisations).
    # mart_activity_follow_up holds the non-respondents in list order: the filters and LIMIT apply before the labels.
    fragments, params = follow_up_filter(filters, viewer)
    name = NAME_COLUMN[lang]
    head, head_params = [], []
    if limit is not None and not fragments:
        # No filter: the head is the list's first `limit` places, which the mart's zone maps find without a scan.
        head, head_params = ["o.list_order <= ?"], [limit]
    sql = (
        "with o as (select * from mart_activity_follow_up as o"
        + where([*fragments, *head])
        + " order by o.list_order"
        + (" limit ?" if limit is not None else "")
        + ") "
        "select o.name, c." + name + " as city, l." + name + " as legal_form, h." + name + " as channel, "
        "o.phone, " + ", ".join("p." + c for c in CONTACT_COLUMNS) + " from o join city as c on c.code = o.city_code "
        "left join legal_form as l on l.code = o.legal_form_code "
        "left join channel as h on h.code = o.distribution_channel_code "
        # Joined on list_order (one per organisation in both marts), by which both are stored: the contacts' zone
        # maps then skip all but the listed rows, where a join on the organisation's id read all of them (~60 ms at 1M).
        "left join pii.mart_activity_follow_up_contact as p on p.list_order = o.list_order "
        "order by o.list_order"
    )
    return fetch(con, sql, [*params, *head_params, limit] if limit is not None else params)
