"""The HTML report from recorded results, opened in a real headless browser (Debian's chromium):
what a person would see -- the matrix cells, one chart per experiment with its shaded fault
window, the trend -- and a screenshot kept under reports/test-artifacts/report.png.

file:// only; chromium's background networking is switched off. No root needed.
"""

from __future__ import annotations

import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from chaos.report import write_report

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures_report"
ARTIFACTS = REPO / "reports" / "test-artifacts"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-default-apps", "--disable-extensions", "--hide-scrollbars",
           f"--user-data-dir={profile}", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"chromium exited {proc.returncode}: {proc.stderr[-2000:]}"
    return proc


class _Dom(HTMLParser):
    """Elements of the rendered DOM with their attributes, and the text inside each one."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str], list[str]]] = []
        self._open: list[list[str]] = []

    def handle_starttag(self, tag, attrs):
        text: list[str] = []
        self.elements.append((tag, {k: v or "" for k, v in attrs}, text))
        if tag not in ("rect", "path", "line", "circle", "meta", "br", "i", "col"):
            self._open.append(text)

    def handle_endtag(self, tag):
        if tag not in ("rect", "path", "line", "circle", "meta", "br", "i", "col") and self._open:
            self._open.pop()

    def handle_data(self, data):
        for text in self._open:
            text.append(data)

    def find(self, tag: str, cls: str | None = None, **attrs: str):
        for t, a, text in self.elements:
            if t == tag and (cls is None or cls in a.get("class", "").split()) and \
                    all(a.get(k.replace("_", "-")) == v for k, v in attrs.items()):
                yield a, " ".join("".join(text).split())


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    history = [FIXTURES / f"run-h{i}" for i in range(1, 5)]
    return write_report(FIXTURES / "run-current", history=history, out=out)


@pytest.fixture(scope="module")
def dom(report, tmp_path_factory) -> _Dom:
    proc = _chromium(tmp_path_factory.mktemp("profile"), "--dump-dom", report.as_uri())
    parsed = _Dom()
    parsed.feed(proc.stdout)
    assert parsed.elements, "chromium dumped an empty DOM"
    return parsed


def test_matrix_cells_show_verdicts_and_numbers(dom):
    cells = {a["data-experiment"]: (a, text) for a, text in dom.find("td", "cell")}
    assert len(cells) == 6
    attrs, text = cells["postgres/negative-async-partition"]
    assert "verdict-fail" in attrs["class"].split()
    assert "fail" in text and "5.46 s" in text and "lost 448" in text
    attrs, text = cells["postgres/primary-node-crash"]
    assert "verdict-unknown" in attrs["class"].split() and "12.51 s" in text
    assert "verdict-pass" in cells["postgres/primary-kill"][0]["class"].split()
    assert "unavailable 4.30 s" in cells["postgres/primary-kill"][1]


def test_one_chart_per_experiment_with_its_shaded_fault_window(dom):
    sections = list(dom.find("section", "experiment"))
    charts = list(dom.find("svg", "timeline"))
    windows = list(dom.find("rect", "fault-window"))
    assert len(sections) == len(charts) == len(windows) == 6
    for attrs, _ in windows:
        assert float(attrs["width"]) > 1 and float(attrs["height"]) > 100
    assert len(list(dom.find("line", "recovery-point"))) == 6
    spans = [text for _, text in dom.find("g", "unavailability-span")]
    assert any(re.search(r"unavailable 5\.46 s \(w2\)", t) for t in spans)
    # Axis labels a person reads.
    assert sum("seconds from start" in t for _, t in dom.find("svg", "timeline")) == 6


def test_trend_section_flags_the_regressions(dom):
    (_, trend_text), = dom.find("section", id="trend")
    assert "Regression rule" in trend_text
    flagged = {a["data-experiment"] for a, _ in dom.find("tr", "regression")}
    assert flagged == {"postgres/primary-kill", "postgres/primary-node-crash"}
    assert len(list(dom.find("svg", "trend"))) == 12


def test_screenshot_is_kept_as_an_artefact(report, tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    _chromium(tmp_path / "profile", f"--screenshot={shot}", "--window-size=1400,3000", report.as_uri())
    assert shot.is_file()
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20 * 1024, "screenshot suspiciously small: blank page?"
