"""survey_answers.csv — アンケート回答: the Google Forms export of the resource survey."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from common.text import clean_text, nfkc
from etl.encoding import read_text
from etl.normalise import normalise_phone, org_name_key, parse_email, parse_timestamp, parse_yes_no, split_multi
from etl.sources.base import (
    Context,
    Dependants,
    Organizations,
    RowCheck,
    Transformed,
    parse_column,
    read_csv,
    reader_result,
    row_label,
    select_table,
    string_lists,
    table,
)
from etl.vocab import LINEAGE, Vocabulary

FILE_NAME = "survey_answers.csv"
KIND = "survey"

TIMESTAMP = "タイムスタンプ"
NAME = "団体名"
CITY = "所在市"
LEGAL_FORM = "法人格"
RESPONDENT = "ご回答者のお名前"
EMAIL = "ご連絡先メールアドレス"
PHONE = "ご連絡先電話番号"
CONTENT = "活動内容（当てはまるものをすべて選択してください）"
FORM = "支援の形態（当てはまるものをすべて選択してください）"
TARGET = "主な対象者（当てはまるものをすべて選択してください）"
AREA = "活動している市（当てはまるものをすべて選択してください）"
HOURS = "活動日時"
LANGUAGES = "対応言語"
ACCESSIBILITY = "バリアフリー対応"
INITIATIVE = "人とのつながりや孤独・孤立に関連する取組を行っていますか"
INTENT = "官民連携プラットフォームへの参画意向"
REFERRALS = "ご紹介いただける団体があればご記入ください"
IDEAS = "孤独・孤立問題に取り組むアイデア"
COLUMNS = [
    TIMESTAMP,
    NAME,
    CITY,
    LEGAL_FORM,
    RESPONDENT,
    EMAIL,
    PHONE,
    CONTENT,
    FORM,
    TARGET,
    AREA,
    HOURS,
    LANGUAGES,
    ACCESSIBILITY,
    INITIATIVE,
    INTENT,
    REFERRALS,
    IDEAS,
]
# Google Forms puts the whole question into the header; an edited form may drop the instruction.
VARIANTS = {
    CONTENT: ["活動内容"],
    FORM: ["支援の形態"],
    TARGET: ["主な対象者"],
    AREA: ["活動している市"],
}
OUTSIDE = "4市以外"
OUTSIDE_ID = "OUT"
NOT_LISTED = "配布リストにない団体 (not on the distribution list)"
SUPERSEDED = "重複回答（新しい回答を採用） (superseded by a later answer)"


def extract(path: Path) -> pl.DataFrame:
    """Read the survey CSV (CP932, UTF-8 or UTF-8 with BOM) into a raw frame with lineage."""
    return read(path)[0]


def read(path: Path) -> tuple[pl.DataFrame, str]:
    """The raw frame and the detected encoding, from one read of the file (a large CSV takes seconds to detect)."""
    return read_csv(path, COLUMNS, VARIANTS)


def encoding(path: Path) -> str | None:
    """Detected text encoding of the file."""
    return read_text(path)[1]


def _areas(check: RowCheck, vocab: Vocabulary) -> list[tuple[str | None, str]]:
    """The service-area cell as (city code or None, label) pairs, one per city; unknown cities are cell records."""

    def lookup(label: str) -> tuple[str | None, str]:
        """One label's city (None for 4市以外)."""
        return (None, label) if label == OUTSIDE else (vocab.city(label), label)

    areas: dict[str | None, str] = {}
    for code, label in check.get_many(AREA, split_multi, lookup):
        areas.setdefault(code, label)
    return list(areas.items())


def _joined(value: Any) -> str | None:
    """A free multi-answer cell re-joined with 、."""
    return "、".join(split_multi(value)) or None


def _parse_row(check: RowCheck, ctx: Context, organizations: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Parse every column of one answer and match it to its organisation."""
    vocab = ctx.vocab
    name = check.get(NAME, required=True)
    city_code = check.get(CITY, vocab.city, required=True)
    organization = None
    if name is not None:
        key = org_name_key(name) or ""
        organization = organizations.get(key)
        if organization is None:
            # An organisation the list set aside, or whose city sheet is empty, is the cause — not this answer.
            root = ctx.rejected_organizations.get(key) or ctx.empty_cities.get(city_code)
            if root is not None:
                check.depend(root)
            else:
                check.fail(NAME, check.row.get(NAME), NOT_LISTED, "match.organization")
    return {
        "organization": organization,
        "submitted_at": check.get(TIMESTAMP, parse_timestamp, check="normalise.timestamp", required=True),
        "city_code": city_code,
        "legal_form_code": check.get(LEGAL_FORM, vocab.legal_form),
        "respondent_name": check.get(RESPONDENT),
        "respondent_email": check.get(EMAIL, parse_email, check="normalise.email"),
        "respondent_phone": check.get(PHONE, normalise_phone),
        # A multi-answer cell keeps its known labels; each unknown one is a cell-level record.
        "content": check.get_many(CONTENT, split_multi, lambda label: vocab.lookup("content", label)),
        "form": check.get_many(FORM, split_multi, lambda label: vocab.lookup("form", label)),
        "target": check.get_many(TARGET, split_multi, lambda label: vocab.lookup("target", label)),
        "areas": _areas(check, vocab),
        "hours": check.get(HOURS, clean_text),
        "languages": check.get(LANGUAGES, _joined),
        "accessibility": check.get(ACCESSIBILITY, _joined),
        "has_isolation_initiative": check.get(INITIATIVE, parse_yes_no, check="normalise.yes_no"),
        "pf_intent_code": check.get(INTENT, vocab.pf_intent),
        "referrals": check.get(REFERRALS, clean_text),
        "ideas": check.get(IDEAS, clean_text),
        "timestamp_label": nfkc(check.row.get(TIMESTAMP)),
    }


def _labels(lookup: Callable[[str], Any]) -> Callable[[Any], list[Any]]:
    """A whole multi-answer cell as get_many reads it: its known values without repeats; an unknown label raises."""

    def parse(value: Any) -> list[Any]:
        """The values of one cell."""
        found: list[Any] = []
        for label in split_multi(value):
            code = lookup(label)
            if code not in found:
                found.append(code)
        return found

    return parse


def _fields(vocab: Vocabulary) -> tuple[tuple[str, str, Callable[[Any], Any], bool, bool], ...]:
    """(column, parsed name, parser, few distinct values, required) of every value _parse_row checks, alike."""

    def area(label: str) -> tuple[str | None, str]:
        """One label's city (None for 4市以外), as _areas looks it up."""
        return (None, label) if label == OUTSIDE else (vocab.city(label), label)

    def multi(kind: str) -> Callable[[Any], list[Any]]:
        """A taxonomy multi-answer cell."""
        return _labels(lambda label: vocab.lookup(kind, label))

    return (
        (NAME, "name", nfkc, False, True),
        (CITY, "city_code", vocab.city, True, True),
        (TIMESTAMP, "submitted_at", parse_timestamp, False, True),
        (LEGAL_FORM, "legal_form_code", vocab.legal_form, True, False),
        (RESPONDENT, "respondent_name", nfkc, False, False),
        (EMAIL, "respondent_email", parse_email, False, False),
        (PHONE, "respondent_phone", normalise_phone, False, False),
        (CONTENT, "content", multi("content"), True, False),
        (FORM, "form", multi("form"), True, False),
        (TARGET, "target", multi("target"), True, False),
        (AREA, "areas", _labels(area), True, False),
        (HOURS, "hours", clean_text, False, False),
        (LANGUAGES, "languages", _joined, True, False),
        (ACCESSIBILITY, "accessibility", _joined, True, False),
        (INITIATIVE, "has_isolation_initiative", parse_yes_no, True, False),
        (INTENT, "pf_intent_code", vocab.pf_intent, True, False),
        (REFERRALS, "referrals", clean_text, False, False),
        (IDEAS, "ideas", clean_text, False, False),
    )


ANSWER = {
    "organization_id": pl.String,
    "organization_name": pl.String,
    "submitted_at": pl.Datetime("us"),
    "city_code": pl.String,
    "legal_form_code": pl.String,
    "respondent_name": pl.String,
    "respondent_email": pl.String,
    "respondent_phone": pl.String,
    "content": pl.List(pl.String),
    "form": pl.List(pl.String),
    "target": pl.List(pl.String),
    "area_codes": pl.List(pl.String),
    "area_names": pl.List(pl.String),
    "hours": pl.String,
    "languages": pl.String,
    "accessibility": pl.String,
    "has_isolation_initiative": pl.Boolean,
    "pf_intent_code": pl.String,
    "referrals": pl.String,
    "ideas": pl.String,
    "timestamp_label": pl.String,
} | LINEAGE


def _answer(parsed: dict[str, Any]) -> dict[str, Any]:
    """One loaded answer as an ANSWER row (the organisation by id and name, the areas as two lists)."""
    # _parse_row's areas are already one (city, first label) per city, in first-seen order.
    pairs = dict(parsed["areas"])
    return {
        **{c: parsed.get(c) for c in ANSWER},
        "organization_id": parsed["organization"]["id"],
        "organization_name": parsed["organization"]["name"],
        "area_codes": list(pairs),
        "area_names": list(pairs.values()),
    }


def _answers(raw: pl.DataFrame, ctx: Context, quarantine: list[dict[str, Any]], dependants: Dependants) -> pl.DataFrame:
    """Every loaded answer (ANSWER columns, in row order); rows with any problem go through _parse_row.

    Each column is parsed whole by the same parsers; a row any of whose values fails, lacks a required value,
    matches no organisation or carries an extract issue is parsed again by _parse_row, which writes its records.
    """
    organizations = Organizations(ctx.organizations)
    height = raw.height
    parsed: dict[str, list[Any]] = {}
    slow: set[int] = set()
    for column, name, parse, repeats, required in _fields(ctx.vocab):
        values, bad = parse_column(raw[column].to_list(), parse, repeats=repeats)
        slow |= bad
        if required:
            slow.update(i for i, value in enumerate(values) if value is None)
        parsed[name] = values
    matched = [organizations.get(org_name_key(name) or "") if name is not None else None for name in parsed["name"]]
    slow.update(i for i, organization in enumerate(matched) if organization is None)
    slow.update(i for i, issues in enumerate(raw["_issues"].list.len().to_list()) if issues)
    keep = pl.Series([i not in slow for i in range(height)], dtype=pl.Boolean)
    # One (city, first label) per city, in first-seen order, as _areas keeps them.
    names = []
    for areas in parsed["areas"]:
        first: dict[str | None, str] = {}
        for code, label in areas or ():
            first.setdefault(code, label)
        names.append(first)
    columns = {
        "organization_id": [None if org is None else org["id"] for org in matched],
        "organization_name": [None if org is None else org["name"] for org in matched],
        **{c: parsed[c] for c in ANSWER if c in parsed},
        "content": string_lists([v or [] for v in parsed["content"]]),
        "form": string_lists([v or [] for v in parsed["form"]]),
        "target": string_lists([v or [] for v in parsed["target"]]),
        "area_codes": string_lists([list(first) for first in names]),
        "area_names": string_lists([list(first.values()) for first in names]),
        "timestamp_label": [nfkc(v) for v in raw[TIMESTAMP].to_list()],
        **{c: raw[c].to_list() for c in LINEAGE},
    }
    fast = pl.DataFrame(columns, schema=ANSWER).filter(keep)
    loaded = []
    for row in raw[sorted(slow)].to_dicts() if slow else []:
        check = RowCheck(row)
        values = _parse_row(check, ctx, organizations)
        if check.ok:
            loaded.append(_answer(values | check.lineage))
        elif check.root is not None:
            dependants.add(check, NAME, "アンケート回答", "survey answers")
        quarantine.extend(check.problems)
    return pl.concat([fast, pl.DataFrame(loaded, schema=ANSWER, orient="row")]).sort("_row") if loaded else fast


TABLES = ("survey_response", "service", "attribute", "service_area", "pii.survey_respondent")


def _result(
    make: Callable[[str, Any], pl.DataFrame],
    rows: tuple[Any, ...],
    raw: pl.DataFrame,
    quarantine: list[dict[str, Any]],
    dependants: Dependants,
) -> Transformed:
    """Both transforms' result: the TABLES from their rows (made by make) and what was set aside or read."""
    return reader_result(
        raw,
        {None: COLUMNS},
        {name: make(name, part) for name, part in zip(TABLES, rows, strict=True)},
        quarantine + dependants.records(),
    )


def transform(raw: pl.DataFrame, ctx: Context) -> Transformed:
    """Responses (latest per organisation), services with their terms and areas, respondents as PII."""
    if ctx.organizations is None:
        raise ValueError("survey transform needs Context.organizations from the distribution list")
    quarantine: list[dict[str, Any]] = []
    dependants = Dependants()
    answers = _answers(raw.sort("_row"), ctx, quarantine, dependants).with_row_index("_position")
    # The latest answer per organisation wins (a tie in time goes to the later row).
    latest = answers.sort("organization_id", "submitted_at", "_row").unique("organization_id", keep="last")
    kept = set(latest["_position"].to_list())
    superseded = answers.filter(~pl.col("_position").is_in(list(kept)))
    quarantine.extend(
        {
            "file_name": file_name,
            "sheet": sheet,
            "row_number": row,
            "column_name": TIMESTAMP,
            "value": label,
            "reason": SUPERSEDED,
            "check_name": "dedupe.survey_response",
            "scope": "row",
            "root_cause": row_label(file_name, sheet, row),
            "dependants": None,
        }
        for file_name, sheet, row, label in superseded.select("_file", "_sheet", "_row", "timestamp_label").rows()
    )
    latest = latest.sort("_row").with_columns(
        response_id="RES-" + pl.col("organization_id"), service_id="SVC-" + pl.col("organization_id")
    )
    responses = latest.with_columns(id=pl.col("response_id"), source_row=pl.col("_row"))
    services = latest.with_columns(id=pl.col("service_id"), name=pl.col("organization_name"))
    links = []
    for order, link_type in enumerate(("content", "form", "target")):
        links.append(
            latest.select("_position", "service_id", *LINEAGE, term=pl.col(link_type))
            .explode("term", keep_nulls=False)
            .with_columns(
                _link=pl.lit(order),
                _term=pl.int_range(pl.len()).over("_position"),
                id="ATT-" + pl.col("service_id") + "-" + pl.col("term"),
                link_id=pl.col("service_id"),
                link_type=pl.lit(link_type),
                link_entity=pl.lit("service"),
                taxonomy_term_id=pl.col("term"),
            )
        )
    attributes = pl.concat(links).sort("_row", "_link", "_term")
    areas = (
        latest.select("_position", "service_id", "area_codes", "area_names", *LINEAGE)
        .explode("area_codes", "area_names", keep_nulls=False)
        .with_columns(
            id="SA-" + pl.col("service_id") + "-" + pl.col("area_codes").fill_null(OUTSIDE_ID),
            city_code=pl.col("area_codes"),
            name=pl.col("area_names"),
        )
    )
    respondents = latest.filter(
        pl.any_horizontal(pl.col(c).is_not_null() for c in ("respondent_name", "respondent_email", "respondent_phone"))
    )
    return _result(select_table, (responses, services, attributes, areas, respondents), raw, quarantine, dependants)


def transform_by_row(raw: pl.DataFrame, ctx: Context) -> Transformed:
    """The reference transform: every row through _parse_row (the tests hold transform to it)."""
    if ctx.organizations is None:
        raise ValueError("survey transform needs Context.organizations from the distribution list")
    organizations = {row["name_key"]: row for row in ctx.organizations.to_dicts()}
    answers: list[dict[str, Any]] = []
    quarantine: list[dict[str, Any]] = []
    dependants = Dependants()
    for row in raw.sort("_row").to_dicts():
        check = RowCheck(row)
        parsed = _parse_row(check, ctx, organizations)
        if check.ok:
            answers.append(parsed | check.lineage)
        elif check.root is not None:
            dependants.add(check, NAME, "アンケート回答", "survey answers")
        quarantine.extend(check.problems)

    latest: dict[str, dict[str, Any]] = {}
    for answer in answers:
        org_id = answer["organization"]["id"]
        kept = latest.get(org_id)
        if kept is None or (answer["submitted_at"], answer["_row"]) >= (kept["submitted_at"], kept["_row"]):
            latest[org_id] = answer
    for answer in answers:
        if latest[answer["organization"]["id"]] is not answer:
            quarantine.append(
                {
                    "file_name": answer["_file"],
                    "sheet": answer["_sheet"],
                    "row_number": answer["_row"],
                    "column_name": TIMESTAMP,
                    "value": answer["timestamp_label"],
                    "reason": SUPERSEDED,
                    "check_name": "dedupe.survey_response",
                    "scope": "row",
                    "root_cause": row_label(answer["_file"], answer["_sheet"], answer["_row"]),
                    "dependants": None,
                }
            )

    responses, services, attributes, areas, respondents = [], [], [], [], []
    for answer in sorted(latest.values(), key=lambda a: a["_row"]):
        org = answer["organization"]
        lineage = {k: answer[k] for k in ("_file", "_sheet", "_row")}
        response_id, service_id = f"RES-{org['id']}", f"SVC-{org['id']}"
        responses.append(answer | {"id": response_id, "organization_id": org["id"], "source_row": answer["_row"]})
        services.append(answer | {"id": service_id, "organization_id": org["id"], "name": org["name"]})
        for link_type in ("content", "form", "target"):
            for term in answer[link_type]:
                attributes.append(
                    {
                        "id": f"ATT-{service_id}-{term}",
                        "link_id": service_id,
                        "link_type": link_type,
                        "link_entity": "service",
                        "taxonomy_term_id": term,
                    }
                    | lineage
                )
        for city_code, label in answer["areas"]:
            areas.append(
                {
                    "id": f"SA-{service_id}-{city_code or OUTSIDE_ID}",
                    "service_id": service_id,
                    "city_code": city_code,
                    "name": label,
                }
                | lineage
            )
        if any(answer[c] is not None for c in ("respondent_name", "respondent_email", "respondent_phone")):
            respondents.append(answer | {"response_id": response_id, "organization_id": org["id"]})
    return _result(table, (responses, services, attributes, areas, respondents), raw, quarantine, dependants)
