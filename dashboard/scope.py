"""What every data page starts from: the selected year's reader, the city, the language, the viewer, the year of its downloads."""

from __future__ import annotations

from typing import NamedTuple

import duckdb

from common.roles import Viewer
from dashboard import auth, data, state
from dashboard.downloads import YearColumns, year_columns


class PageScope(NamedTuple):
    """The session's choices a page reads, resolved on the script thread (unpack it at the page's top)."""

    con: duckdb.DuckDBPyConnection
    city: str | None
    lang: str
    viewer: Viewer
    # The 年度 of what the page shows, appended to its table downloads (from the data, whichever year is read).
    download_year: YearColumns | None


def page_scope() -> PageScope:
    """The reader of the selected 年度 and the session's city, language and viewer."""
    con, lang = data.connection(), state.lang()
    return PageScope(con, state.city(), lang, auth.viewer(), year_columns(con, lang))
