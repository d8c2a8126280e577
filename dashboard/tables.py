"""The one way a page shows a table: full width, without the index, each column under its label."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st


def data_table(data: Any, columns: Mapping[str, Any], **options: Any) -> None:
    """st.dataframe of data at full width without its index; columns maps a column to its label or column config."""
    st.dataframe(data, hide_index=True, width="stretch", column_config=dict(columns), **options)
