"""Deterministic two-year sample: the R6年度 bundle of data/generate_sample.py and a fictional R7年度 one derived from it.

Run ``python -m data.generate_years --out DIR``: writes ``DIR/R6/`` (byte for byte the shipped sample),
``DIR/R7/`` and ``DIR/manifest.json``, which says exactly which organisations continue (some renamed the way
real lists rename them, some moved city), which are new and which are gone. About two thirds continue; the
R7 survey has another response rate, the art project a new programme, the PF steps advance.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime as dt
import io
import json
import random
import re
from collections import Counter
from pathlib import Path

from data import generate_sample as r6
from etl import sources

R6_FOLDER, R7_FOLDER = "R6", "R7"
FISCAL_YEARS = {R6_FOLDER: 2024, R7_FOLDER: 2025}
SEED_R7 = r6.SEED + 1
NEW_SEED = r6.SEED + 2
CONTINUING_SHARE = 2 / 3
NEW_ORGANISATIONS = 30
MOVED = 4
# How the R7 lists respell some continuing organisations (the matching key must stay the same).
RENAMES = ("kabu", "widespace", "width", "kabu_back")
RESPONSE_RATE = {"大和市": 0.50, "海老名市": 0.47, "座間市": 0.45, "綾瀬市": 0.42}
DISTRIBUTION_SHIFT = dt.timedelta(days=364)  # the same weekday a year on
ANSWER_START = dt.date(2025, 12, 10)
ANSWER_END = dt.date(2026, 1, 31)
INTENTS = (("参加したい", 0.35), ("関心がある", 0.40), ("今は考えていない", 0.25))
DEFAULT_OUT = r6.REPO_ROOT / "var" / "sample_years"
# R7's new workshop programme: (title, artist) replacing R6's, by event id.
NEW_PROGRAMME = {
    "WS-1": ("まちの音をあつめる", "（サンプル）音のアトリエ"),
    "WS-2": ("手紙を書いて、だれかに届ける", "（サンプル）手紙の学校"),
    "WS-3": ("ひとりで歩く、みんなで歩く", "（サンプル）散歩の研究室"),
}
VISITOR_GROWTH = 1.15


def _respell(name: str, kind: str) -> str:
    """A continuing organisation's name as the R7 list writes it."""
    head, body = name[: len(r6.SAMPLE_PREFIX)], name[len(r6.SAMPLE_PREFIX) :]
    if kind == "kabu_back":
        return head + body.replace("（株）", "株式会社")
    if kind == "kabu":
        return head + body.replace("株式会社", "（株）")
    return r6._variant(name, kind)


def _next_year(value):
    """A cell a year later: dates moved on a year, 令和N年 written as 令和N+1年, R6年度 as R7年度."""
    if isinstance(value, dt.datetime):
        return value.replace(year=value.year + 1)
    if isinstance(value, dt.date):
        return value.replace(year=value.year + 1)
    if isinstance(value, str):
        value = re.sub(r"令和(\d+)年", lambda m: f"令和{int(m.group(1)) + 1}年", value)
        value = re.sub(r"R(\d+)年度", lambda m: f"R{int(m.group(1)) + 1}年度", value)
        return re.sub(r"\b(20\d\d)([/-])", lambda m: f"{int(m.group(1)) + 1}{m.group(2)}", value)
    return value


def r6_state() -> tuple[list, list, dict, dict, r6.People]:
    """The R6 bundle's objects, drawn in generate_sample.generate's order (so they are the shipped sample's)."""
    rng = random.Random(r6.SEED)
    people = r6.People(rng)
    orgs = r6.build_organisations(rng, people)
    r6.distribution_rows(rng, orgs)
    answers = r6.build_answers(rng, orgs)
    r6.survey_bytes(rng, people, answers)
    r6.kml_text(rng, orgs, answers)
    events = r6.events_sheets(rng, people)
    progress = r6.progress_sheets()
    return orgs, answers, events, progress, people


def _keys(name: str) -> tuple[str, str]:
    """Both matching keys the generator checks (core legal words and every seed spelling)."""
    return r6.name_key(name, r6.CORE_LEGAL_WORDS), r6.name_key(name, r6._seed_legal_words())


def r7_organisations(rng: random.Random, orgs: list, people: r6.People) -> tuple[list, dict]:
    """R7's organisations (continuing copies, some renamed or moved, and new ones) and the manifest."""
    continuing = sorted(rng.sample(range(len(orgs)), round(len(orgs) * CONTINUING_SHARE)))
    kept = [dataclasses.replace(orgs[i], sheets=list(orgs[i].sheets)) for i in continuing]
    before = {id(copy): orgs[i] for copy, i in zip(kept, continuing)}
    changes: dict[int, str] = {}
    for kind in RENAMES:
        candidates = [org for org in kept if id(org) not in changes and _respell(org.name, kind) != org.name]
        for org in rng.sample(candidates, min(2, len(candidates))):
            renamed = _respell(org.name, kind)
            assert _keys(renamed) == _keys(org.name), renamed
            org.name = renamed
            changes[id(org)] = f"renamed:{kind}"
    movable = [org for org in kept if id(org) not in changes and org.address and org.sheets == [org.city]]
    for org in rng.sample(movable, MOVED):
        city = rng.choice(r6.NEIGHBOURS[org.city])
        town = rng.choice(r6.TOWNS[city])[0]
        org.city, org.address, org.sheets, org.variant = city, r6._address(rng, city, town), [city], None
        changes[id(org)] = "moved"
    taken = {key for org in orgs for key in _keys(org.name)}
    fresh = [org for org in r6.build_organisations(random.Random(NEW_SEED), people) if not taken & set(_keys(org.name))]
    new = rng.sample(fresh, NEW_ORGANISATIONS)
    r7 = kept + new
    for org in r7:
        org.sent_on = org.sent_on + DISTRIBUTION_SHIFT
    gone = [org for i, org in enumerate(orgs) if i not in set(continuing)]
    manifest = {
        "fiscal_years": FISCAL_YEARS,
        "continuing": [
            {
                "r6_name": before[id(org)].name,
                "r7_name": org.name,
                "r6_city": before[id(org)].city,
                "r7_city": org.city,
                "change": changes.get(id(org), "none"),
            }
            for org in kept
        ],
        "new": [{"name": org.name, "city": org.city} for org in new],
        "gone": [{"name": org.name, "city": org.city} for org in gone],
    }
    manifest["counts"] = {
        "continuing": len(kept),
        "new": len(new),
        "gone": len(gone),
        "renamed": sum(change.startswith("renamed") for change in changes.values()),
        "moved": MOVED,
        "per_city": {
            city: {
                "continuing": sum(org.city == city for org in kept),
                "new": sum(org.city == city for org in new),
                "gone": sum(org.city == city for org in gone),
            }
            for city in r6.CITIES
        },
    }
    return r7, manifest


def r7_survey(rng: random.Random, people: r6.People, orgs: list) -> tuple[bytes, list]:
    """R7's Google Forms CSV: another round with its own response rate per city."""
    answers = []
    for city in r6.CITIES:
        city_orgs = [org for org in orgs if org.city == city]
        answers += [r6.Answer(org=org) for org in rng.sample(city_orgs, round(len(city_orgs) * RESPONSE_RATE[city]))]
    for answer in answers:
        arch = answer.org.arch
        answer.contents = set(arch.contents[: rng.randint(1, min(3, len(arch.contents)))])
        answer.groups = {r6.GROUP_OF[cat] for cat in answer.contents}
        answer.forms = set(arch.forms[: rng.randint(1, min(3, len(arch.forms)))])
        answer.targets = r6._pick_targets(rng, arch)
        answer.area = r6._pick_area(rng, answer.org.city)
        day = r6._random_date(rng, max(answer.org.sent_on + dt.timedelta(days=1), ANSWER_START), ANSWER_END)
        answer.submitted_at = dt.datetime.combine(day, dt.time(rng.randint(8, 22), rng.randint(0, 59)))
    rows = []
    for answer in sorted(answers, key=lambda a: a.submitted_at):
        intent = r6._weighted(rng, INTENTS)
        rows.append(r6.survey_row(rng, people, answer.org, answer.submitted_at, intent, lambda answer=answer: [
            ", ".join(sorted(answer.contents, key=r6.CONTENT_ORDER.index)),
            ", ".join(sorted(answer.forms, key=r6.FORM_ORDER.index)),
            ", ".join(answer.targets),
            ", ".join(answer.area),
        ]))  # fmt: skip
    buffer = io.StringIO()
    r6.write_survey(rows, buffer)
    return buffer.getvalue().encode("cp932"), answers


def r7_events(rng: random.Random, events: dict) -> dict:
    """R7's events.xlsx: R6's a year on, with a new workshop programme, more visitors and a new workshop WS-4."""
    sheets = {
        sheet: (header, [[_next_year(cell) for cell in row] for row in rows])
        for sheet, (header, rows) in events.items()
    }
    for row in sheets[sources.events.EVENTS][1]:
        if row[0] in NEW_PROGRAMME:
            row[2], row[3] = NEW_PROGRAMME[row[0]]
    sheets[sources.events.EVENTS][1].append(
        ["WS-4", "ワークショップ", "（サンプル）公園でつくる地図", "（サンプル）地図の会", "座間市", "座間市立公民館", None,
         dt.date(2026, 1, 17), dt.date(2026, 1, 17), 1]
    )  # fmt: skip
    for row in sheets[sources.events.SESSIONS][1]:
        if row[7] is not None:
            row[7] = round(row[7] * VISITOR_GROWTH)
    roster = sheets[sources.events.PARTICIPANTS][1]
    consultees = [row[0] for row in roster if row[2] == "相談者"][:3]
    general = [row[0] for row in roster if row[2] == "一般"][:6]
    sheets[sources.events.SESSIONS][1].append(["WS-4", 1, dt.date(2026, 1, 17), "10:00", "12:00", 9, 3, None])
    sheets[sources.events.ATTENDANCE][1].extend([pid, "WS-4", 1] for pid in sorted(consultees + general))
    for row in sheets[sources.events.SURVEY][1]:
        row[4] = max(0, row[4] + rng.randint(-5, 12))
    for row in sheets[sources.events.CONTRACTS][1]:
        if row[0] == "C-ART":
            row[3] = 8_200_000
    return sheets


def r7_progress(progress: dict) -> dict:
    """R7's pf_progress.xlsx: steps advanced (進行中 done in R7年度, 未着手 under way), notes a year on."""
    rows = []
    for city, label, status, start, done, note, department, recorded in progress[sources.progress.PROGRESS][1]:
        if status == "進行中":
            status, done = "完了", "R7年度12月"
        elif status == "未着手":
            status, start = "進行中", "R7年度6月~"
        rows.append([city, label, status, start, done, note, department, _next_year(recorded)])
    notes = [[_next_year(cell) for cell in row] for row in progress[sources.progress.NOTES][1]]
    sheets = {sources.progress.PROGRESS: rows, sources.progress.NOTES: notes}
    return {sheet: (header, sheets[sheet]) for sheet, (header, _) in progress.items()}


def _csv_year_on(data: bytes) -> bytes:
    """A UTF-8 CSV of the R6 bundle with its dates a year on."""
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(rows[0])
    writer.writerows([_next_year(cell) for cell in row] for row in rows[1:])
    return buffer.getvalue().encode("utf-8")


def generate(out_dir: Path) -> dict:
    """Write R6/, R7/ and manifest.json into out_dir and return the manifest."""
    out_dir = Path(out_dir)
    r6.generate(out_dir / R6_FOLDER)
    orgs, _, events, progress, people = r6_state()
    rng = random.Random(SEED_R7)
    r7_orgs, manifest = r7_organisations(rng, orgs, people)
    distribution = r6.distribution_rows(rng, r7_orgs)
    survey, answers = r7_survey(rng, people, r7_orgs)
    kml, pins = r6.kml_text(rng, r7_orgs, answers)
    files = {
        "distribution_list.xlsx": r6.workbook_bytes(
            r6._workbook({sheet: (r6.DISTRIBUTION_HEADER, rows) for sheet, rows in distribution.items()})
        ),
        "survey_answers.csv": survey,
        "resource_map.kmz": r6._zip_bytes([("doc.kml", kml.encode("utf-8"))]),
        "events.xlsx": r6.workbook_bytes(r6._workbook(r7_events(rng, events))),
        "pf_progress.xlsx": r6.workbook_bytes(r6._workbook(r7_progress(progress))),
        "cities.csv": _csv_year_on(r6.cities_bytes()),
        "kpi_targets.csv": _csv_year_on(r6.targets_bytes()),
    }
    (out_dir / R7_FOLDER).mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (out_dir / R7_FOLDER / name).write_bytes(data)
    manifest["counts"]["answers"] = dict(Counter(answer.org.city for answer in answers))
    manifest["counts"]["pins"] = pins
    (out_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description="Write the fictional two-year sample (R6年度 and R7年度).")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default: var/sample_years)")
    args = parser.parse_args(argv)
    counts = generate(args.out)["counts"]
    for key, value in counts.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
