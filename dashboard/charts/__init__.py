"""Chart builders, one module per page: frames in, alt.Chart or pdk.Deck out, no streamlit."""

from __future__ import annotations

from collections.abc import Mapping

import altair as alt

from dashboard.i18n import translate

# The app's palette, shared by every page's charts: the primary blue (Streamlit theme's primaryColor), its pale
# partner (the lighter bar of a two-tone pair: earlier year, distributed) and the ink of dark text.
PRIMARY = "#2e75b6"
PRIMARY_PALE = "#9ec5e8"
TEXT_DARK = "#1f2933"
# A column's catalogue key where a tooltip titles it, under the page's prefix; a column not named is its own key.
COLUMN_KEYS = {
    "city_label": "city",
    "form_label": "form",
    "term_label": "term",
    "gap_label": "gap",
    "covered": "covered_towns",
}
# A column's number format wherever a tooltip shows it (a column not named here is shown as Vega shows it).
FORMATS = {"share_pct": ".1f", "rate_pct": ".1f", "index_pct": ".1f", "per_10k": ".2f", "four_city_per_10k": ".2f"}


def tooltips(lang: str, prefix: str, *fields: str, keys: Mapping[str, str] = COLUMN_KEYS) -> list[alt.Tooltip]:
    """Tooltip entries for "column:type" fields, titled by the catalogue's prefix.<key> and formatted per FORMATS."""
    entries = []
    for field in fields:
        column = field.split(":")[0]
        number = {"format": FORMATS[column]} if column in FORMATS else {}
        entries.append(alt.Tooltip(field, title=translate(lang, f"{prefix}.{keys.get(column, column)}"), **number))
    return entries
