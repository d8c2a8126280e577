"""The one way a page draws an Altair chart: st.altair_chart without Altair's JSON-schema validation on every run.

Streamlit serialises a chart with chart.to_dict(), which validates the whole spec against the Vega-Lite schema
(jsonschema), and Altair validates each schema object again as it is built (its debug mode): together about a
quarter of a page run's CPU (measured 2026-12-03, docs/architecture.md "Tests"), on every run of every page. The
dashboard draws only its own builders' charts (dashboard/charts/), so the tests validate instead: each builder's
unit tests call to_dict() (which validates) and tests/test_language_switch.py renders every page with VALIDATE on.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import streamlit as st
from altair.utils import schemapi

# Validate each chart as it is drawn (the tests switch it on; the server leaves it off).
VALIDATE = False

# Altair's documented switch: schema objects are no longer validated as they are created (the final to_dict()
# of a chart still validates unless told not to). Process-wide; the report pack's to_dict() still validates.
schemapi.disable_debug_mode()


class _Built:
    """A chart as Streamlit reads it: to_dict() validates only when VALIDATE is on; anything else is the chart's."""

    def __init__(self, chart: alt.TopLevelMixin) -> None:
        self._chart = chart

    def to_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The chart's Vega-Lite spec (validated against the schema only when VALIDATE is on)."""
        kwargs.setdefault("validate", VALIDATE)
        return self._chart.to_dict(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._chart, name)


def altair_chart(chart: alt.TopLevelMixin, **options: Any) -> Any:
    """st.altair_chart(chart, **options), serialised without validating the spec (see the module docstring)."""
    return st.altair_chart(_Built(chart), **options)
