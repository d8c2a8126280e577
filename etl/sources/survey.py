"""survey_answers.csv — アンケート回答: the Google Forms export of the resource survey."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from etl.encoding import read_text
from etl.normalise import (
    clean_text,
    nfkc,
    normalise_phone,
    org_name_key,
    parse_email,
    parse_timestamp,
    parse_yes_no,
    split_multi,
)
from etl.sources.base import (
    Context,
    RowCheck,
    Transformed,
    extra_columns,
    quarantine_frame,
    read_csv,
    table,
)
from etl.vocab import UnknownLabel, Vocabulary

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


def _terms(vocab: Vocabulary, kind: str) -> Any:
    """Parser of a multi-answer cell into term ids of one taxonomy."""
    return lambda value: vocab.lookup_many(kind, split_multi(value))


def _areas(vocab: Vocabulary) -> Any:
    """Parser of the service-area cell into (city code or None, label) pairs, one per city."""

    def parse(value: Any) -> list[tuple[str | None, str]]:
        """Split, look up and de-duplicate the cities of one cell."""
        areas: dict[str | None, str] = {}
        unknown = []
        for label in split_multi(value):
            if label == OUTSIDE:
                areas.setdefault(None, label)
                continue
            try:
                areas.setdefault(vocab.city(label), label)
            except UnknownLabel:
                unknown.append(label)
        if unknown:
            raise UnknownLabel("city", "」「".join(unknown))
        return list(areas.items())

    return parse


def _joined(value: Any) -> str | None:
    """A free multi-answer cell re-joined with 、."""
    return "、".join(split_multi(value)) or None


def _parse_row(check: RowCheck, vocab: Vocabulary, organizations: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Parse every column of one answer and match it to its organisation."""
    name = check.get(NAME, required=True)
    organization = None
    if name is not None:
        organization = organizations.get(org_name_key(name) or "")
        if organization is None:
            check.fail(NAME, check.row.get(NAME), NOT_LISTED, "match.organization")
    return {
        "organization": organization,
        "submitted_at": check.get(TIMESTAMP, parse_timestamp, check="normalise.timestamp", required=True),
        "city_code": check.get(CITY, vocab.city, required=True),
        "legal_form_code": check.get(LEGAL_FORM, vocab.legal_form),
        "respondent_name": check.get(RESPONDENT),
        "respondent_email": check.get(EMAIL, parse_email, check="normalise.email"),
        "respondent_phone": check.get(PHONE, normalise_phone),
        "content": check.get(CONTENT, _terms(vocab, "content")) or [],
        "form": check.get(FORM, _terms(vocab, "form")) or [],
        "target": check.get(TARGET, _terms(vocab, "target")) or [],
        "areas": check.get(AREA, _areas(vocab)) or [],
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
    for row in raw.sort("_row").to_dicts():
        check = RowCheck(row)
        parsed = _parse_row(check, ctx.vocab, organizations)
        if check.ok:
            answers.append(parsed | check.lineage)
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
        quarantine=quarantine_frame(quarantine),
        rows_read=raw.height,
        warnings=extra_columns(raw, {None: COLUMNS}),
    )
