"""Every page of the app, in navigation order: adding a page is one entry here.

A url_path must differ from every file name in dashboard/pages/: because that folder exists,
Streamlit also registers each file as a v1 page keyed by its stem, and a clash would run the page
without the entry point (no sidebar, no shared state). tests/test_home.py guards this.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from common.roles import ROLES

EVERYONE = ROLES
# Row-level tables and the pipeline's records are for staff; the public sees maps and aggregates.
STAFF = ("analyst", "city_manager", "liaison", "admin")
SUBMITTERS = ("city_manager", "admin")


@dataclass(frozen=True)
class PageSpec:
    """A navigation entry: fixed Japanese title, script under dashboard/, URL path, icon, who may open it.

    namespace: the page's section of the message catalogue when it differs from the script's name.
    all_years: whether the 年度 selector offers "all years" here. Only a page that can really show every year
    at once (reading the mart_year_* marts for it) sets it; every other page shows one year, by default the
    latest (docs/architecture.md, "Fiscal years").
    """

    title: str
    script: str
    url_path: str
    icon: str
    default: bool = False
    roles: tuple[str, ...] = EVERYONE
    namespace: str | None = None
    all_years: bool = False

    @property
    def title_key(self) -> str:
        """Catalogue key of the title the page shows (its st.title), in the current language."""
        return f"{self.namespace or PurePosixPath(self.script).stem}.title"

    @property
    def nav_key(self) -> str:
        """Catalogue key of the navigation title; in Japanese it is the fixed title."""
        return f"nav.{self.url_path}"

    def allows(self, role: str) -> bool:
        """Whether a viewer with this role sees the page in the navigation."""
        return role in self.roles


PAGES: tuple[PageSpec, ...] = (
    PageSpec("概要", "pages/home.py", "overview", ":material/home:", default=True),
    PageSpec("地域資源マップ", "pages/resource_map.py", "map", ":material/map:", namespace="map"),
    PageSpec("相談つなぎ", "pages/referral.py", "tsunagi", ":material/handshake:"),
    PageSpec("活動分布", "pages/activity.py", "activities", ":material/donut_large:"),
    PageSpec("イベント実績", "pages/events.py", "art-events", ":material/palette:"),
    PageSpec("PF構築プロセス", "pages/progress.py", "platform", ":material/account_tree:"),
    PageSpec("広域カバレッジ", "pages/coverage.py", "coverage-map", ":material/travel_explore:"),
    PageSpec("データ・ダウンロード", "pages/explore.py", "data", ":material/table_view:", roles=STAFF),
    PageSpec("データ品質", "pages/quality.py", "data-quality", ":material/fact_check:", roles=STAFF),
    PageSpec("データ取込", "pages/intake.py", "upload", ":material/upload_file:", roles=SUBMITTERS),
)
