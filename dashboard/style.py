"""CSS shared by every page, injected once per run by app.py: keeps pages within a phone's width."""

from __future__ import annotations

import streamlit as st

# Why each rule: a chart drawn wider than the column (Vega-Lite's fixed-width heatmaps and timelines) would
# widen the whole page on a 390 px phone, so it scrolls inside its own box instead, as tables already do;
# on a narrow screen the space above the title shrinks so a page's map comes within the first two screens.
CSS = """
[data-testid="stVegaLiteChart"], [data-testid="stDeckGlJsonChart"] { max-width: 100%; overflow-x: auto; }
[data-testid="stMarkdownContainer"] { overflow-wrap: anywhere; }
@media (max-width: 640px) {
  [data-testid="stMainBlockContainer"] { padding-top: 3.5rem; padding-left: 1rem; padding-right: 1rem; }
}
"""


def inject() -> None:
    """Add the shared CSS to the page (a style-only st.html takes no space)."""
    st.html(f"<style>{CSS}</style>")
