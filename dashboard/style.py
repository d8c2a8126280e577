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


# A chart box that may scroll must be reachable by keyboard (WCAG 2.1.1; axe scrollable-region-focusable): each
# Vega-Lite box joins the tab order, so arrow keys scroll it. One observer per browser tab covers charts drawn later.
SCRIPT = """<script>(() => {
  if (window.__tsunagariChartFocus) return;
  const apply = () => document.querySelectorAll('[data-testid="stVegaLiteChart"]:not([tabindex])')
    .forEach((chart) => chart.setAttribute('tabindex', '0'));
  apply();
  window.__tsunagariChartFocus = new MutationObserver(apply);
  window.__tsunagariChartFocus.observe(document.body, {subtree: true, childList: true});
})();</script>"""


def inject() -> None:
    """Add the shared CSS (and the chart boxes' keyboard access) to the page; neither takes space."""
    st.html(f"<style>{CSS}</style>")
    st.html(SCRIPT, unsafe_allow_javascript=True)
