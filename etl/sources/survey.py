"""survey_answers.csv — アンケート回答: the Google Forms export of the resource survey."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from common.text import clean_text, nfkc
from etl.encoding import read_text
from etl.normalise import normalise_phone, org_name_key, parse_email, parse_timestamp, parse_yes_no, split_multi
from etl.sources.base import (
    Context,
    Dependants,
    RowCheck,
    Transformed,
    extra_columns,
    quarantine_frame,
    read_csv,
    row_label,
    table,
)
from etl.vocab import Vocabulary

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
    raw, _ = read_csv(path, COLUMNS, VARIANTS)
    return raw


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


def transform(raw: pl.DataFrame, ctx: Context) -> Transformed:
    """Responses (latest per organisation), services with their terms and areas, respondents as PII."""
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
    return Transformed(
        tables={
            "survey_response": table("survey_response", responses),
            "service": table("service", services),
            "attribute": table("attribute", attributes),
            "service_area": table("service_area", areas),
            "pii.survey_respondent": table("pii.survey_respondent", respondents),
        },
        quarantine=quarantine_frame(quarantine + dependants.records()),
        rows_read=raw.height,
        warnings=extra_columns(raw, {None: COLUMNS}),
    )
