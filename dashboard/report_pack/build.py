"""Make a report pack: figures from the warehouse, the content model, chart images, then the three files."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb
import vl_convert

from dashboard.report_pack import model, pdf, word, workbook
from warehouse import report

FORMATS = ("docx", "pdf", "xlsx")
STEPS = ("figures", "charts", *FORMATS)
FONT_ENV = "TSUNAGARI_PDF_FONT"
# IPAex Gothic (Debian fonts-ipaexfont-gothic, tools/system-deps.sh): one TrueType file, which fpdf2 can embed
# (it cannot embed a .ttc collection such as Noto CJK) and vl-convert can draw the charts' Japanese with.
DEFAULT_FONT = Path("/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf")
FONT_FAMILY = "IPAexGothic"
# Chart images at twice the charts' CSS size: sharp when printed at the page widths used.
IMAGE_SCALE = 2
# On a page a chart without a width of its own stretches to the column (st.altair_chart width="stretch");
# on paper it gets the text width in CSS pixels instead of Vega-Lite's narrow default.
PAPER_WIDTH_PX = 640
CHART_THREADS = 2
_COMPOSITE = ("facet", "concat", "hconcat", "vconcat", "repeat")

# progress(step, done, total): called before each step (done = steps finished so far).
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class PackFiles:
    """The made files (extension → bytes), their common stem and how long the making took."""

    files: dict[str, bytes]
    stem: str
    seconds: float
    pack: model.Pack


def font_path() -> Path:
    """The TrueType font the PDF embeds and the charts are drawn with: $TSUNAGARI_PDF_FONT or IPAex Gothic."""
    path = Path(os.environ.get(FONT_ENV, DEFAULT_FONT))
    if not path.is_file():
        raise FileNotFoundError(f"report pack font not found: {path} (tools/system-deps.sh installs it)")
    return path


@cache
def _register_font(directory: str) -> None:
    """Let vl-convert draw with the pack's font (once per process)."""
    vl_convert.register_font_directory(directory)


def _paper_spec(chart) -> dict:
    """A chart's Vega-Lite spec for paper: the pack's font, and the text width where the page would stretch it."""
    spec = chart.to_dict()
    spec.setdefault("config", {})["font"] = FONT_FAMILY
    if spec.get("width") in (None, "container") and not any(key in spec for key in _COMPOSITE):
        spec["width"] = PAPER_WIDTH_PX
    return spec


def chart_images(pack: model.Pack) -> dict[str, bytes]:
    """PNG of every chart of the pack, keyed by figure name, drawn by vl-convert from the builders' specs.

    vl-convert renders in Rust and lets go of the GIL meanwhile, so the charts are drawn two at a time.
    """
    _register_font(str(font_path().parent))
    figures = pack.figures()
    specs = [_paper_spec(figure.chart) for figure in figures]
    with ThreadPoolExecutor(max_workers=CHART_THREADS, thread_name_prefix="pack-chart") as pool:
        images = list(pool.map(lambda spec: vl_convert.vegalite_to_png(spec, scale=IMAGE_SCALE), specs))
    return {figure.name: image for figure, image in zip(figures, images, strict=True)}


def make(
    con: duckdb.DuckDBPyConnection,
    scope: report.Scope,
    *,
    formats: Sequence[str] = FORMATS,
    progress: Progress | None = None,
) -> PackFiles:
    """The pack of the scope (its city and 年度, as its viewer may see them) in the asked formats."""
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown pack formats: {sorted(unknown)}")
    started = time.perf_counter()
    drawn = any(extension in formats for extension in ("docx", "pdf"))  # the workbook holds no chart
    steps = ["figures", *(["charts"] if drawn else []), *(f for f in FORMATS if f in formats)]

    def step(name: str) -> None:
        if progress is not None:
            progress(name, steps.index(name), len(steps))

    step("figures")
    figures = report.figures(con, scope)
    pack = model.build_pack(figures, scope.today)
    images = {}
    if drawn:
        step("charts")
        images = chart_images(pack)
    writers = {
        "docx": lambda: word.write(pack, images),
        "pdf": lambda: pdf.write(pack, images, font_path()),
        "xlsx": lambda: workbook.write(pack),
    }
    files = {}
    for extension in FORMATS:
        if extension in formats:
            step(extension)
            files[extension] = writers[extension]()
    if progress is not None:
        progress("done", len(steps), len(steps))
    return PackFiles(files=files, stem=pack.stem, seconds=time.perf_counter() - started, pack=pack)
