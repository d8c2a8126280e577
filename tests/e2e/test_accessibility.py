"""WCAG 2.1 AA as axe-core checks it: every page, both languages, signed in as admin (issue 21, item 8).

axe-core is the npm package pinned in tools/axe/package-lock.json, installed by `npm ci` in
`tools/system-deps.sh browser` (which `make test` and `make e2e` run). It is injected into every frame of
each page once the page has finished drawing, and run with the WCAG 2.0/2.1 A and AA rule tags; a
violation of impact serious or critical fails the page, listing the rule, its help text and the elements.

Keyboard: on every page, pressing Tab from the top must reach every visible control (buttons, links, inputs,
sliders, tabs, expanders); a radio group or a tab list counts as reached when one of its members is (arrow
keys move inside it, as WAI-ARIA prescribes).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from .checks import assert_healthy, screenshot_afterwards
from .conftest import Tab, new_tab, sign_in
from .pages import PAGES, PageCase
from .server import ROOT

pytestmark = pytest.mark.e2e

AXE = ROOT / "tools" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
FAILING_IMPACTS = {"serious", "critical"}
LANGUAGES = ("ja", "en")


@pytest.fixture(scope="module")
def admin_tab(browser: Browser, app_url: str) -> Iterator[Tab]:
    """One tab signed in as admin (the sign-in lasts across page loads), so every page is shown."""
    if not AXE.exists():
        pytest.fail(f"{AXE.relative_to(ROOT)} missing: run ./tools/system-deps.sh browser", pytrace=False)
    for tab in new_tab(browser, app_url):
        tab.open("/")
        sign_in(tab.page, "admin")
        yield tab


def run_axe(page: Page) -> list[dict]:
    """axe-core's violations on the page as it is now (all frames), restricted to the WCAG A/AA tags."""
    source = AXE.read_text(encoding="utf-8")
    for frame in page.frames:
        if not frame.is_detached():
            frame.evaluate(source)  # evaluate, not a script tag: no CSP or load-order issue in iframes
    return page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})"
        "  .then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        "    nodes: v.nodes.map(n => ({target: n.target.join(' '), summary: n.failureSummary,"
        "      html: n.html.slice(0, 200)}))})))",
        TAGS,
    )


def describe(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"[{violation['impact']}] {violation['id']}: {violation['help']} ({len(violation['nodes'])})")
        for node in violation["nodes"][:8]:
            lines.append(f"    {node['target']}  {node['html']}")
            lines.append("      " + (node["summary"] or "").replace("\n", "\n      "))
    return "\n".join(lines)


AXE_OPEN: dict[str, str] = {}  # pages with a known open finding (strict xfail): none


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(
    "case",
    [
        pytest.param(case, marks=pytest.mark.xfail(strict=True, reason=AXE_OPEN[case.url_path]))
        if case.url_path in AXE_OPEN
        else case
        for case in PAGES
    ],
    ids=[case.url_path for case in PAGES],
)
def test_axe(admin_tab: Tab, artifacts: Path, case: PageCase, language: str) -> None:
    """No serious or critical WCAG 2.1 A/AA violation on the page in this language."""
    query = "?lang=en" if language == "en" else ""
    with screenshot_afterwards(admin_tab.page, artifacts / f"a11y-{case.url_path}-{language}.png"):
        page = admin_tab.open(case.route + query)
        assert_healthy(page, admin_tab.console)
        page.wait_for_load_state("load")
        violations = [v for v in run_axe(page) if v["impact"] in FAILING_IMPACTS]
        assert not violations, f"{case.title} ({language}): axe-core found\n{describe(violations)}"


# The visible controls in document order, radio groups and tab lists as one group each (an index into this list
# names a control; a rerun that redraws the same page keeps the indices, where a DOM mark would be lost).
CONTROLS = """
() => {
  const selector = 'button, input:not([type=hidden]), select, textarea, a[href], summary, '
    + '[role=slider], [role=tab], [role=switch], [role=checkbox], [role=combobox], [role=radio]';
  const groups = [];
  for (const el of document.querySelectorAll(selector)) {
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (el.disabled || el.getAttribute('aria-disabled') === 'true' || el.closest('[aria-hidden=true]')) continue;
    // tabindex=-1 takes a part of a composite control out of the tab order on purpose (a select's "Open"
    // chevron: the select's own input takes the focus); a table's toolbar shows once the table has the focus.
    if (el.getAttribute('tabindex') === '-1' || el.closest('[data-testid=stElementToolbar]')) continue;
    if (style.visibility === 'hidden' || style.display === 'none') continue;
    // Not drawn at all (a hidden tab panel, content-visibility): no one can see it, so no one tabs to it.
    if (!(el.closest('label') ?? el).checkVisibility({visibilityProperty: true, contentVisibilityAuto: true})) continue;
    const shown = box.width > 0 && box.height > 0 || el.closest('label')?.getBoundingClientRect().width > 0;
    if (!shown) continue;
    const group = el.closest('[role=radiogroup], [role=tablist]') ?? el;
    if (!groups.includes(group)) groups.push(group);
  }
  return groups;
}
"""
LABELS = (
    "() => (" + CONTROLS.strip() + ")().map(el => {"
    "  const where = [];"
    "  for (let up = el.parentElement; up && where.length < 3; up = up.parentElement) {"
    "    if (up.dataset.testid) where.push(up.dataset.testid);"
    "  }"
    "  return ((el.getAttribute('aria-label') || el.innerText || el.getAttribute('placeholder')"
    "    || el.outerHTML.slice(0, 160)).trim().slice(0, 80) + ' in ' + where.join(' < '));"
    "})"
)
FOCUSED = (
    "() => { const groups = (" + CONTROLS.strip() + ")();"
    "  const at = document.activeElement;"
    "  return groups.findIndex(g => g === at || g.contains(at)); }"
)
EXTRA_TABS = 60  # beyond one press per control: controls with inner stops (a data grid, a map's zoom buttons)


@pytest.mark.parametrize("case", PAGES, ids=[case.url_path for case in PAGES])
def test_every_control_is_reachable_by_keyboard(admin_tab: Tab, case: PageCase) -> None:
    """Tab from the top of the page reaches every visible control (a radio group or tab list as one)."""
    page = admin_tab.open(case.route)
    page.wait_for_load_state("load")
    page.wait_for_timeout(500)  # deferred parts (maps, data grids) finish drawing
    labels = page.evaluate(LABELS)
    assert labels, f"{case.title}: no control found"
    page.evaluate("() => document.activeElement?.blur()")
    reached: set[int] = set()
    for _ in range(len(labels) * 3 + EXTRA_TABS):
        page.keyboard.press("Tab")
        found = page.evaluate(FOCUSED)
        if found >= 0:
            reached.add(found)
        if len(reached) == len(labels):
            break
    missing = [label for index, label in enumerate(page.evaluate(LABELS)) if index not in reached]
    assert not missing, f"{case.title}: not reachable by Tab: {missing}"
