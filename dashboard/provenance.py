"""The block under every page: where its figures come from, as of when (JST), the reference credits, a contact.

Also admin_pointer: the one way a page points to the documentation, shown to administrators only.
"""

from __future__ import annotations

import os

import streamlit as st

from common.calendar import date_label, moment_label
from dashboard import auth, data, state
from warehouse.query import provenance

CONTACT_ENV = "TSUNAGARI_CONTACT"
# The sources each page's figures come from (keyed by the page's url_path in dashboard/registry.py).
PAGE_TOPICS: dict[str, tuple[str, ...]] = {
    "overview": ("survey", "map", "events", "progress"),
    "map": ("survey", "map"),
    "tsunagi": ("survey", "map"),
    "activities": ("survey",),
    "art-events": ("events",),
    "platform": ("progress",),
    "coverage-map": ("survey", "map", "cities"),
    "data": ("survey", "map", "events", "progress", "cities"),
    "data-quality": ("pipeline",),
    "upload": ("pipeline",),
}
BLOCK_KEY = "provenance"


def _period(first: object, last: object, lang: str) -> str:
    """A date range in 和暦 and 西暦; one date when both ends agree; — when unknown."""
    if first is None or last is None:
        return state.t("provenance.range_unknown")
    if first == last:
        return date_label(first, lang)
    return state.t("provenance.period", first=date_label(first, lang), last=date_label(last, lang))


def lines(page_key: str) -> list[str]:
    """The block's lines for a page, in the current language (read from the published warehouse)."""
    t, lang = state.t, state.lang()
    # Both depend on the published file and 年度 only: read once per build, not on every page run (≈ 40 ms).
    found = data.cached(provenance.summary)
    out = [
        t("provenance.as_of", moment=moment_label(found["finished_at"], lang))
        if found.get("run_id")
        else t("provenance.no_run")
    ]
    for topic in PAGE_TOPICS[page_key]:
        out.append(
            t(
                f"provenance.topic.{topic}",
                period=_period(found.get(f"{topic}_first"), found.get(f"{topic}_last"), lang),
                date=date_label(
                    found.get({"map": "map_checked", "progress": "progress_recorded"}.get(topic, "")), lang
                ),
                run_id=found.get("run_id") or "—",
            )
        )
    credits = data.cached(provenance.reference_credits)
    if credits.is_empty():
        out.append(t("provenance.no_reference"))
    else:
        items = [
            t("provenance.reference_item", credit=c, licence=lic)
            for c, lic in credits.select("credit", "licence").iter_rows()
        ]
        out.append(t("provenance.reference", credits=t("provenance.reference_separator").join(items)))
    if contact := (os.environ.get(CONTACT_ENV) or "").strip():
        out.append(t("provenance.contact", contact=contact))
    return out


def show_provenance(page_key: str) -> None:
    """Draw the provenance block at the bottom of a page."""
    st.divider()
    with st.container(key=BLOCK_KEY):
        st.caption(f"**{state.t('provenance.heading')}**  \n" + "  \n".join(lines(page_key)))


def admin_pointer(doc: str) -> None:
    """A short pointer to the documentation (a path under docs/ or README.md), for administrators only."""
    if auth.viewer().role == "admin":
        st.caption(state.t("admin.pointer", doc=f"`{doc}`"))
