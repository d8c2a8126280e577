"""Audit rows for personal data shown on a page: which page showed what, to whom, how many rows (no values)."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping

import streamlit as st

from dashboard import auth, state
from dashboard.downloads import PAGE_KEY
from warehouse import operations

# Views already recorded in this session (cleared with the session at sign-out): one row per distinct view.
VIEWS_KEY = "audited_personal_views"


def personal_view(what: str, rows: int, *, roles: Collection[str], filters: Mapping[str, object] | None = None) -> None:
    """Record that the viewer was shown personal data (`what`, `rows` rows) when their role sees it unmasked.

    Pages call this once, right where they show the data; roles not in `roles` see it masked (or not at
    all) and leave no row, nor does an empty table. A rerun showing the same view again is not recorded
    twice in one session.
    """
    viewer = auth.viewer()
    if viewer.role not in roles or rows <= 0:
        return
    target = f"{st.session_state.get(PAGE_KEY, '')}/{what}"
    detail = {"what": what, "rows": rows, "city": state.city()}
    if filters:
        detail["filters"] = dict(filters)
    signature = json.dumps(
        [viewer.identity, viewer.role, viewer.city_code, target, detail], sort_keys=True, default=str
    )
    seen = st.session_state.setdefault(VIEWS_KEY, set())
    if signature in seen:
        return
    operations.record_audit(viewer, "view_personal", target, detail)
    seen.add(signature)
