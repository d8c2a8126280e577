"""Every page in each language shows no UI text of the other one (issue #21, "Language").

Signed in as an admin (who sees every page), each page is opened with ?lang=en and ?lang=ja and its visible
text read from the DOM: the sidebar (navigation included) and the page. Data values are the cities' own
words and stay as written: a Japanese run on an English page is allowed when the warehouse holds it
(organisation names, addresses, free text, …), and so is a Latin word on a Japanese page. Tables and charts
draw on a canvas (their labels are checked by tests/test_i18n_labels.py and the chart builders' tests).
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from dashboard.i18n import translate

from .checks import assert_healthy, full_page_screenshot
from .conftest import ACCOUNTS, sign_in
from .pages import PAGES, PageCase

pytestmark = pytest.mark.e2e

# Kana, kanji and full-width forms: Japanese text.
JAPANESE_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff01-\uff5e\u3000-\u303f]+")
# A Latin word of three letters or more: English text (shorter ones are units and symbols: km, ID, WS).
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'’]{2,}")
# The language switch names each language in its own language on both pages (as every bilingual site does).
BOTH_LANGUAGES = {"言語", "日本語", "Language", "English"}
# Names and standards written the same in Japanese text: acronyms, formats, products and the app's name.
NAMES_IN_JAPANESE = {
    "Tsunagari", "CSV", "BOM", "Excel", "xlsx", "Parquet", "HSDS", "Open", "Referral", "GeoJSON", "KML", "KMZ",
    "NPO", "FAX", "KPI", "Google", "OpenStreetMap", "ETL", "UTC", "JST", "URL", "OIDC", "WCAG", "Great",
    "Expectations", "DuckDB", "SHA", "JSON", "HTML", "Geolonia", "PDF", "UTF", "zip", "Word",
}  # fmt: skip
# The signed-in account's name (e2e-admin) is the user's own data.
ACCOUNT_WORDS = {word for name in ACCOUNTS for word in LATIN_WORD.findall(name)}
SKIPPED = (
    '[data-testid="stDataFrame"], [data-testid="stVegaLiteChart"], [data-testid="stDeckGlJsonChart"], '
    '[data-testid*="Icon"], script, style, noscript, '  # icons are ligature words: "info", "lock", "upload"
    # A document's path in an administrator's pointer (`docs/…`, `README.md`) is a file name, the same in
    # both languages; users who are not administrators never see one (tests/test_provenance.py).
    "code, "
    # A date field's empty segments show its format (yyyy/mm/dd), by the browser's locale, not the app's.
    '[data-testid="stDateInputField"]'
)
# Proper names of standards and products that contain ordinary English words.
PROPER_NAMES = (
    "Open Referral",
    "Human Services Data Specification",
    "datapackage.json",  # the data package standard's own file, named in the open-data description
    "Great Expectations",
    "Google Forms",
)
VISIBLE_TEXT = f"""() => {{
  const out = [];
  for (const root of document.querySelectorAll('[data-testid="stSidebar"], [data-testid="stMain"]')) {{
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {{
      const node = walker.currentNode, element = node.parentElement;
      if (!element || element.closest('{SKIPPED}') || !element.checkVisibility()) continue;
      const text = node.textContent.trim();
      if (text) out.push(text);
    }}
    // A date picker's placeholder is its format (YYYY-MM-DD), not text.
    for (const input of root.querySelectorAll('input[placeholder], textarea[placeholder]')) {{
      if (input.closest('[data-testid="stDateInput"]')) continue;
      if (input.checkVisibility() && input.placeholder.trim()) out.push(input.placeholder.trim());
    }}
  }}
  return out;
}}"""


UPLOADER_TEXTS = """() => {
  const zone = document.querySelector('[data-testid="stFileUploaderDropzone"]');
  return [zone.querySelector('button [data-testid="stMarkdownContainer"]'),
          zone.querySelector('[data-testid="stFileUploaderDropzoneInstructions"] > div')]
    .map(e => getComputedStyle(e, '::after').content);
}"""


@pytest.fixture(scope="module")
def data_text(warehouse: Path) -> str:
    """Every text value the warehouse holds (all schemas, personal data included: an admin sees it), one per line."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        columns = con.execute(
            "select schema_name, table_name, column_name from duckdb_columns() "
            "where database_name = current_database() and (data_type = 'VARCHAR' or data_type = 'VARCHAR[]')"
        ).fetchall()
        values: set[str] = set()
        for schema, table, column in columns:
            rows = con.execute(f'select distinct cast("{column}" as varchar) from "{schema}"."{table}"').fetchall()
            values.update(value for (value,) in rows if value)
    finally:
        con.close()
    return "\n".join(sorted(values))


def foreign_text(texts: list[str], lang: str, data_text: str, data_words: set[str]) -> list[str]:
    """Pieces of the other language among a page's texts that are neither data values nor names."""
    found: list[str] = []
    for text in texts:
        for name in PROPER_NAMES:
            text = text.replace(name, " ")
        if lang == "en":
            found += [run for run in JAPANESE_RUN.findall(text) if run not in BOTH_LANGUAGES and run not in data_text]
        else:
            found += [
                word
                for word in LATIN_WORD.findall(text)
                if word not in BOTH_LANGUAGES | NAMES_IN_JAPANESE | ACCOUNT_WORDS and word not in data_words
            ]
    return sorted(set(found))


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_every_page_speaks_one_language(tab, artifacts, data_text, lang) -> None:
    page = tab.page
    data_words = set(LATIN_WORD.findall(data_text))
    tab.open("/")
    sign_in(page, "admin")  # the lasting sign-in survives the page loads below
    folder = artifacts / "language"
    folder.mkdir(exist_ok=True)
    problems: dict[str, list[str]] = {}
    for case in PAGES:
        tab.open(f"{route(case)}?lang={lang}")
        assert_healthy(page, tab.console)
        full_page_screenshot(page, folder / f"{case.url_path}-{lang}.png")
        texts = page.evaluate(VISIBLE_TEXT)
        assert texts, f"no text read from {case.url_path}"
        if found := foreign_text(texts, lang, data_text, data_words):
            problems[case.url_path] = found
        if case.url_path == "upload":
            # The uploader's own texts come from a style (Streamlit has no parameter for them).
            shown = page.evaluate(UPLOADER_TEXTS)
            assert shown == [f'"{translate(lang, "app.upload_button")}"', f'"{translate(lang, "app.upload_drop")}"']
    other = "Japanese" if lang == "en" else "English"
    listing = "\n".join(f"  {page_path}: {' | '.join(pieces)}" for page_path, pieces in problems.items())
    assert problems == {}, f"{other} UI text on the {lang} pages:\n{listing}"


def route(case: PageCase) -> str:
    """The page's path (the default page is "/")."""
    return case.route
