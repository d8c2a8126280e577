"""python -m dashboard.report_pack: make the report pack (.docx, .pdf, .xlsx) from the published warehouse.

    python -m dashboard.report_pack --city 14218 --year 2024 --out out/
    python -m dashboard.report_pack --city all --year 2024 --lang en --formats pdf --out out/

Consultee figures follow the pages' rule for --role (and --role-city); the default, public, leaves them out.
The generation is recorded in the audit log like the page's (who: the operating-system user, via the CLI).
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from common.calendar import LOCAL_TZ
from common.roles import ROLES, Viewer
from dashboard.i18n import LANGUAGES
from dashboard.report_pack import build
from warehouse import operations, query, report


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line's options."""
    parser = argparse.ArgumentParser(prog="python -m dashboard.report_pack", description=__doc__.splitlines()[0])
    parser.add_argument("--city", default="all", help="city code (e.g. 14218), or all for the four cities")
    parser.add_argument("--year", type=int, help="年度 as its first calendar year (2024 = R6年度); default: the latest")
    parser.add_argument("--lang", choices=LANGUAGES, default="ja")
    parser.add_argument("--formats", default=",".join(build.FORMATS), help="comma-separated: docx,pdf,xlsx")
    parser.add_argument("--out", type=Path, required=True, help="folder the files are written to")
    parser.add_argument("--warehouse", type=Path, help="published warehouse (default: $TSUNAGARI_WAREHOUSE)")
    parser.add_argument("--role", choices=ROLES, default="public", help="whose view of consultee figures")
    parser.add_argument("--role-city", help="the city of a city_manager --role")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Write the pack's files; 0 on success, 2 when the city or 年度 is not in the warehouse."""
    args = parse(argv)
    viewer = Viewer(args.role, args.role_city, identity=f"{getpass.getuser()} (cli)")
    formats = [name.strip() for name in args.formats.split(",") if name.strip()]
    today = dt.datetime.now(dt.UTC).astimezone(ZoneInfo(LOCAL_TZ)).date()
    con = query.connect(args.warehouse)
    try:
        codes = query.cities(con)["code"].to_list()
        city = None if args.city == "all" else args.city
        if city is not None and city not in codes:
            print(f"unknown city {args.city!r}: one of all, {', '.join(codes)}", file=sys.stderr)
            return 2
        years = report.fiscal_years(con, viewer)
        nendo = args.year if args.year is not None else (years[0] if years else None)
        if nendo not in years:
            print(f"no figures for 年度 {args.year}: the warehouse covers {years or 'none'}", file=sys.stderr)
            return 2
        made = build.make(
            con,
            report.Scope(city, nendo, args.lang, viewer, today=today),
            formats=formats,
            progress=lambda step, done, total: print(f"[{done}/{total}] {step}", flush=True),
        )
    finally:
        con.close()
    operations.record_audit(
        viewer, "export", "cli/report_pack", {"what": "report_pack", "city": city, "nendo": nendo, "formats": formats}
    )
    args.out.mkdir(parents=True, exist_ok=True)
    for extension, content in made.files.items():
        path = args.out / f"{made.stem}.{extension}"
        path.write_bytes(content)
        print(f"wrote {path} ({len(content):,} bytes)")
    print(f"made in {made.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
