"""THE table of pages the e2e suite opens: one entry per page of dashboard/registry.py.

A new page joins the suite by adding one `PageCase` here (test_pages.py is parametrised over PAGES and
checks that the table and the registry agree). For each page the suite opens its URL with the default
choices (日本語, 4市全体), waits for Streamlit to finish, and checks: no exception box, no unexpected
console error, every text in `key_texts` visible, and the element at `chart` drawn (non-blank pixels).
"""

from __future__ import annotations

from dataclasses import dataclass

from dashboard.registry import PAGES as REGISTRY

# Selectors of the drawn part of a chart/map (not its wrapper, which is white while it loads).
ALTAIR = '[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg.marks'
PYDECK = '[data-testid="stDeckGlJsonChart"] canvas'


@dataclass(frozen=True)
class PageCase:
    title: str  # navigation title, exactly as in dashboard/registry.py
    url_path: str  # registry url_path; also the screenshot name test-artifacts/e2e/<url_path>.png
    key_texts: tuple[str, ...]  # texts that must be visible on the default view (sample data)
    chart: str | None  # CSS selector of the main chart/map element whose pixels must be non-blank
    role: str | None = None  # sign in with this role first (staff-only pages); None = public

    @property
    def route(self) -> str:
        """URL path to open: Streamlit serves the default page at "/" (its url_path would 404)."""
        spec = next((spec for spec in REGISTRY if spec.url_path == self.url_path), None)
        return "/" if spec is not None and spec.default else f"/{self.url_path}"


PAGES: tuple[PageCase, ...] = (
    PageCase(
        title="概要",
        url_path="overview",
        key_texts=(
            "配布団体数", "157 団体",
            "回答団体数", "63 団体",
            "回答率", "40.1 %",
            "展示会来場者", "3,198 名",
        ),
        chart=ALTAIR,
    ),
    PageCase(
        title="地域資源マップ",
        url_path="map",
        key_texts=("地域資源マップ", "表示中の団体", "150 / 150 団体", "58 団体", "出典：国土地理院（地理院タイル）"),
        chart=PYDECK,
    ),
    PageCase(
        title="相談つなぎ",
        url_path="tsunagi",
        key_texts=("相談つなぎ", "1. 相談の内容", "2. お住まいの場所", "3. 紹介先の候補"),
        chart=PYDECK,
    ),
    PageCase(
        title="活動分布",
        url_path="activities",
        key_texts=("活動内容の分布（サンバースト図）", "N=63", "157 団体", "63 団体", "40.1 %"),
        chart=ALTAIR,
    ),
    PageCase(
        title="イベント実績",
        url_path="art-events",
        key_texts=("展示会来場者数", "3,198 名", "WS参加者数（延べ）", "102 名", "WS参加者数（実人数）", "60 名", "126 名"),
        chart=ALTAIR,
    ),
    PageCase(
        title="PF構築プロセス",
        url_path="platform",
        key_texts=("各市の到達段階", "(ウ)", "設立段階", "ステップ × 市", "タイムライン", "変更履歴"),
        chart=ALTAIR,
    ),
    PageCase(
        title="広域カバレッジ",
        url_path="coverage-map",
        key_texts=("広域カバレッジ", "1. 市 × 支援の形態", "6 / 40 セル", "48 団体", "20 団体", "4. PF参加候補"),
        chart=ALTAIR,
    ),
    PageCase(
        title="データ・ダウンロード",
        url_path="data",
        key_texts=("データ・ダウンロード", "該当する行", "157 行", "1 / 2 ページ（1〜100 行目、1ページ 100 行）"),
        chart='[data-testid="stDataFrame"] canvas',
        role="analyst",
    ),
    PageCase(
        title="データ品質",
        url_path="data-quality",
        key_texts=("データ品質", "隔離行数", "この取込はすべての検証に合格し、隔離した行はありません。"),
        chart='[data-testid="stDataFrame"] canvas',
        role="analyst",
    ),
    PageCase(
        title="データ取込",
        url_path="upload",
        key_texts=("データ取込", "1. ファイルを選ぶ", "試験取込（ドライラン）", "3. 送信の記録", "4. 以前のデータに戻す（管理者）"),
        chart=None,
        role="admin",
    ),
)  # fmt: skip
