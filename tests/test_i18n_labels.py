"""Both languages cover the UI: navigation titles, the explorer's tables, columns and coded values, widget placeholders.

The coded values are read from the sample warehouse (every distinct value of every coded column of every
published table), so a new code in the data without a label fails here.
"""

from __future__ import annotations

import csv
import io
import re

import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import labels
from dashboard.downloads import csv_from_batches
from dashboard.i18n import LANGUAGES, catalogue
from dashboard.registry import PAGES
from warehouse.query import explore

APP = "../dashboard/app.py"
# Kana and kanji: Japanese text an English label must not hold (①–⑨ and symbols are language-neutral).
JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff66-\uff9f]")
# Streamlit's own English placeholders, shown when a widget is given none.
STREAMLIT_DEFAULTS = ("Choose options", "Choose an option", "Select options", "Select an option")


@pytest.fixture
def datasets(sample_con) -> dict[str, explore.Dataset]:
    """The explorer's catalogue of the sample warehouse."""
    return explore.catalogue(sample_con)


@pytest.fixture
def coded_values(sample_con, datasets) -> dict[str, set[str]]:
    """Every distinct value of every coded column (explore.VOCAB_COLUMNS) in the published tables."""
    found: dict[str, set[str]] = {}
    for dataset in datasets.values():
        for column in dataset.columns:
            if column.name not in explore.VOCAB_COLUMNS or column.kind != "text":
                continue
            rows = sample_con.execute(
                f"select distinct {explore.ident(column.name)} from {explore.ident(dataset.name)} "
                f"where {explore.ident(column.name)} is not null"
            ).fetchall()
            found.setdefault(column.name, set()).update(value for (value,) in rows)
    return found


def test_the_sample_has_coded_values_to_check(coded_values):
    # The raw codes issue #21 saw on the explorer: they must be in the data for the checks below to mean anything.
    assert {"npo"} <= coded_values["legal_form_code"]
    assert {"mail"} <= coded_values["distribution_channel_code"]
    assert {"not_now"} <= coded_values["pf_intent_code"]
    assert len(coded_values) >= 20


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_coded_value_in_the_warehouse_has_a_label(sample_con, coded_values, lang):
    value_labels = labels.value_labels(explore.seed_labels(sample_con), lang)
    missing = {column: sorted(values - set(value_labels[column])) for column, values in coded_values.items()}
    assert {column: codes for column, codes in missing.items() if codes} == {}
    for column, values in coded_values.items():
        shown = [value_labels[column][value] for value in values]
        assert all(shown), f"{column}: an empty label"
        if lang == "en":
            assert [text for text in shown if JAPANESE.search(text)] == [], f"{column}: Japanese in English labels"


def test_labels_follow_the_language(sample_con):
    seeds = explore.seed_labels(sample_con)
    ja, en = labels.value_labels(seeds, "ja"), labels.value_labels(seeds, "en")
    assert (ja["legal_form_code"]["npo"], en["legal_form_code"]["npo"]) == ("NPO法人", "NPO corporation")
    assert (ja["distribution_channel_code"]["mail"], en["distribution_channel_code"]["mail"]) == ("メール", "Email")
    assert (ja["pf_intent_code"]["not_now"], en["pf_intent_code"]["not_now"]) == ("今は考えていない", "Not for now")
    assert (ja["phase_code"]["a"], en["phase_code"]["a"]) == ("(ア) 初期段階", "(a) Initial")
    city = sample_con.execute("select name_ja, name_en from city where code = '14216'").fetchone()
    assert (ja["city_code"]["14216"], en["city_code"]["14216"]) == city


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_explorer_table_and_column_has_a_label(datasets, lang):
    messages = catalogue(lang)
    tables = sorted(name for name in datasets if f"xtable.{name}" not in messages or f"xdesc.{name}" not in messages)
    assert tables == [], f"tables without a {lang} label or description"
    columns = sorted({c.name for d in datasets.values() for c in d.columns if f"xcol.{c.name}" not in messages})
    assert columns == [], f"columns without a {lang} label"
    if lang == "en":
        texts = {key: text for key, text in messages.items() if key.startswith(("xtable.", "xcol.", "xvalue."))}
        assert [key for key, text in texts.items() if JAPANESE.search(text)] == []


def test_labelled_header_is_unique_and_downloads_keep_machine_names():
    names = ["area_en", "areas_en", "legal_form_code", "city_code"]
    header = labels.labelled_header("ja", names)
    assert len(set(header)) == len(header)
    assert header[2:] == ["法人格", "市"]
    batch = pa.RecordBatch.from_pylist([{"legal_form_code": "npo", "city_code": "14216"}])
    plain = list(csv.reader(io.StringIO(csv_from_batches([batch]).decode("utf-8-sig"))))
    assert plain == [["legal_form_code", "city_code"], ["npo", "14216"]], "machine names and codes by default"
    named = csv_from_batches(labels.with_header([batch], labels.labelled_header("en", batch.schema.names)))
    assert list(csv.reader(io.StringIO(named.decode("utf-8-sig")))) == [["Legal form", "City"], ["npo", "14216"]]


def test_navigation_titles_in_both_languages():
    ja, en = catalogue("ja"), catalogue("en")
    assert [ja[spec.nav_key] for spec in PAGES] == [spec.title for spec in PAGES], "Japanese titles are the fixed ones"
    english = [en[spec.nav_key] for spec in PAGES]
    assert len(set(english)) == len(english)
    assert [title for title in english if JAPANESE.search(title)] == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_widget_falls_back_to_streamlit_placeholders(sample_warehouse, monkeypatch, sign_in, lang):
    """Every select widget of every page, as an admin (who sees every page), has a placeholder in lang."""
    monkeypatch.setenv("TSUNAGARI_WAREHOUSE", str(sample_warehouse))
    at = sign_in(AppTest.from_file(APP, default_timeout=60), "admin")
    at.query_params["lang"] = lang
    at.run()
    checked = 0
    for spec in PAGES:
        at.switch_page(spec.script).run()
        assert not at.exception, (spec.url_path, [e.value for e in at.exception])
        for widget in [*at.multiselect, *at.selectbox]:
            placeholder = widget.proto.placeholder
            checked += 1
            # An empty placeholder is Streamlit's English default in the browser.
            assert placeholder, f"{spec.url_path}: {widget.label!r} has no placeholder"
            assert placeholder not in STREAMLIT_DEFAULTS, f"{spec.url_path}: {widget.label!r} has {placeholder!r}"
            if lang == "en":
                assert not JAPANESE.search(placeholder or ""), f"{spec.url_path}: {widget.label!r}"
    assert checked > 10


@pytest.mark.parametrize(("lang", "shown"), [("ja", "未定"), ("en", "Undecided")])
def test_an_undecided_start_month_reads_in_the_language(lang, shown):
    from dashboard.charts import progress as progress_charts

    for written in ("未定", "未定~"):
        assert progress_charts._start({"to_start_month": None, "to_start_label": written}, "to", lang) == shown
    assert progress_charts._start({"to_start_month": None, "to_start_label": None}, "to", lang) == "—"
