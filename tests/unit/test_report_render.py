"""Rendering of the HTML report from recorded results: structure, escaping, atomic write."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from chaos.checkers import Verdict
from chaos.errors import InvalidConfig
from chaos.report import render_report, write_report
from chaos.results import build_result, write_result
from chaos.slo import SLO
from chaos.timeline import FAIL, INVOKE, NEMESIS, OK, Event

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures_report"
CURRENT = FIXTURES / "run-current"
HISTORY = [FIXTURES / f"run-h{i}" for i in range(1, 5)]
N_EXPERIMENTS = len(list(CURRENT.rglob("result.json")))


@pytest.fixture(scope="module")
def page() -> str:
    return render_report(CURRENT, history=HISTORY)


def _count(pattern: str, text: str) -> int:
    return len(re.findall(pattern, text))


def test_one_timeline_chart_with_a_fault_window_per_experiment(page):
    assert N_EXPERIMENTS == 6
    assert _count(r'<svg class="timeline"', page) == N_EXPERIMENTS
    assert _count(r'<rect class="fault-window"', page) == N_EXPERIMENTS
    assert _count(r'<g class="unavailability-span"', page) == N_EXPERIMENTS
    assert _count(r'<line class="recovery-point"', page) == N_EXPERIMENTS
    assert _count(r'<section class="experiment card verdict-', page) == N_EXPERIMENTS


def test_the_fault_window_is_shaded_where_the_result_says(page):
    section = page.split('id="exp-postgres-primary-kill"', 1)[1].split("</section>", 1)[0]
    assert 'data-start-s="2.036" data-end-s="8.325"' in section


def test_matrix_has_a_cell_per_experiment_coloured_by_verdict(page):
    matrix = page.split('<table id="matrix">', 1)[1].split("</table>", 1)[0]
    cells = re.findall(r'<td class="cell verdict-(\w+)" data-experiment="([^"]+)"', matrix)
    assert len(cells) == N_EXPERIMENTS
    verdicts = dict((name, verdict) for verdict, name in cells)
    assert verdicts["postgres/negative-async-partition"] == "fail"
    assert verdicts["postgres/primary-node-crash"] == "unknown"
    assert verdicts["postgres/primary-kill"] == "pass"
    assert 'href="#exp-postgres-negative-async-partition"' in matrix
    assert '<b class="lost-writes">448</b>' in matrix and "5.46 s" in matrix


def test_matrix_is_at_the_top_and_every_cell_links_to_a_section(page):
    assert page.index('id="matrix"') < page.index('class="experiment')
    for anchor in re.findall(r'<td class="cell[^>]*><a href="#([^"]+)"', page):
        assert f'id="{anchor}"' in page


def test_metrics_next_to_their_slo_bounds_and_the_reasons(page):
    section = page.split('id="exp-postgres-negative-async-partition"', 1)[1].split("</section>", 1)[0]
    assert re.search(r'<tr class="breach" data-metric="lost_writes"><td>lost writes</td><td class="num">448</td>'
                     r"<td>≤ 0</td>", section)
    assert re.search(r'data-metric="unavailability_s">.*?5\.463 s</td><td>≤ 30 s</td><td><span class="mark-ok">✓', section)
    assert "lost writes 448 of 1760 acknowledged" in section
    assert "pod pgasync-0, node chaos-a1, zone a, role primary" in section
    assert "seed 1549735773" in section and "synchronous_standby_names" in section
    assert "&quot;rules_present&quot;: 4" in section  # the proof, pretty JSON in <details>


def test_unknown_verdict_shows_its_reason_and_unproven_fault(page):
    section = page.split('id="exp-postgres-primary-node-crash"', 1)[1].split("</section>", 1)[0]
    assert '<ul class="reasons"><li>no proof the fault took effect</li></ul>' in section
    assert "<dt>fault proven</dt><dd>NO</dd>" in section


def test_trend_section_only_with_history(page):
    assert 'id="trend"' in page
    assert _count(r'<svg class="trend', page) == 2 * N_EXPERIMENTS
    assert 'class="regression" data-experiment="postgres/primary-kill"' in page
    assert "verdict went from pass to unknown" in page
    assert "1.5 × the median" in page  # the rule is stated on the page
    assert 'id="trend"' not in render_report(CURRENT)


def test_the_page_is_self_contained(page):
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)
    assert set(re.findall(r"https?://[^\s\"'<>]+", page)) <= {"http://www.w3.org/2000/svg"}


def _write_malicious(report_dir: Path) -> None:
    name = 'postgres/evil<img src=x onerror="alert(1)">'
    slo = SLO(max_unavailability_s=30)
    verdict = Verdict("fail", ("<script>alert('reason')</script> & more",), {"unavailability_s": 1.5, "recovery_s": 1.0,
                                                                             "client_unavailability_s": {"w<0>": 1.5}})
    result = build_result(
        experiment=name, component="postgres", fault="kill<b>", platform="local", seed=1,
        target={"pod": '"><script>alert(2)</script>', "node": "n", "zone": "a", "role": "primary"},
        proof={"proven": True, "note": "</pre><script>alert(3)</script>"},
        config={"knob": "<i>x</i>"}, windows={"injected_s": 1.0, "healed_s": 2.0, "end_s": 4.0},
        verdict=verdict, slo=slo, extra={"description": "<marquee>desc</marquee>"},
    )
    events = [Event(0.5, OK, "w<0>", "write", 1), Event(1.2, FAIL, "w<0>", "write", 2, error="<x>"),
              Event(1.0, NEMESIS, "nemesis", "inject", "<kill>"), Event(2.6, INVOKE, "w<0>", "write", 3),
              Event(2.5, OK, "w<0>", "write", 3)]
    write_result(report_dir, result, events)


def test_every_text_is_escaped(tmp_path):
    _write_malicious(tmp_path)
    page = render_report(tmp_path)
    assert "<script" not in page and "<img" not in page and "<marquee" not in page and "<i>x" not in page
    assert "&lt;script&gt;alert(&#x27;reason&#x27;)&lt;/script&gt; &amp; more" in page
    assert 'evil&lt;img src=x onerror=&quot;alert(1)&quot;&gt;' in page
    assert "(w&lt;0&gt;)" in page  # the worst client's name in the chart
    assert _count(r'<svg class="timeline"', page) == 1


def test_write_report_writes_atomically_to_report_html(tmp_path):
    _write_malicious(tmp_path)
    path = write_report(tmp_path)
    assert path == tmp_path / "report.html"
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left
    other = write_report(tmp_path, out=tmp_path / "out" / "r.html")
    assert other.is_file() and other.stat().st_mode & 0o044  # readable by others: meant to be shared


def test_missing_timeline_still_renders_a_chart_with_a_note(tmp_path):
    _write_malicious(tmp_path)
    (timeline,) = tmp_path.rglob("timeline.jsonl")
    timeline.unlink()
    page = render_report(tmp_path)
    assert "timeline timeline.jsonl not found" in page and 'class="fault-window"' in page


def test_a_timeline_name_outside_the_result_directory_is_not_read(tmp_path):
    _write_malicious(tmp_path)
    (result,) = tmp_path.rglob("result.json")
    doc = json.loads(result.read_text())
    doc["timeline"] = "../../../etc/passwd"
    result.write_text(json.dumps(doc))
    assert "no usable timeline file" in render_report(tmp_path)


def test_an_empty_or_missing_report_dir_is_the_users_mistake(tmp_path):
    with pytest.raises(InvalidConfig, match="no result.json"):
        render_report(tmp_path)
    with pytest.raises(InvalidConfig):
        render_report(tmp_path / "nope")
    _write_malicious(tmp_path / "run")
    with pytest.raises(InvalidConfig, match="history directory"):
        render_report(tmp_path / "run", history=[tmp_path / "missing"])


def test_repeats_get_a_section_each_and_a_spread_table(tmp_path):
    from chaos.results import Repeat

    for i, unavail in enumerate((3.86, 6.61, 4.5), start=1):
        verdict = Verdict("pass", (), {"unavailability_s": unavail, "recovery_s": unavail + 0.2})
        doc = build_result(experiment="kafka/leader-kill", component="kafka", fault="kill", platform="local",
                           seed=100 + i, target={}, proof={"proven": True}, config={},
                           windows={"injected_s": 2.0, "healed_s": 8.0, "end_s": 12.0}, verdict=verdict,
                           slo=SLO(), extra={"repeat": Repeat(i, 3).to_dict()})
        write_result(tmp_path, doc, [])
    html = render_report(tmp_path)
    for i in (1, 2, 3):
        assert f'data-experiment="kafka/leader-kill #{i}"' in html
    assert 'id="spread"' in html
    assert "4.500 / 6.399 / 3.860 / 6.610 (n=3)" in html


def _quorum_loss(tmp_path, reasons: tuple[str, ...]) -> str:
    verdict = Verdict("fail" if reasons else "pass", reasons, {"unavailability_s": 20.1, "recovery_s": 24.0})
    doc = build_result(experiment="kafka/quorum-loss", component="kafka", fault="quorum-loss", platform="local",
                       seed=1, target={}, proof={"proven": True}, config={},
                       windows={"injected_s": 2.0, "healed_s": 20.0, "end_s": 30.0}, verdict=verdict,
                       slo=SLO(expect_writes_refused=True, recover_during_fault=False, max_unavailability_s=None,
                               max_recovery_s=45))
    write_result(tmp_path, doc, [Event(t=1.0, kind=OK, process="w0", op="write", value=1)])
    return render_report(tmp_path)


def test_a_quorum_loss_shows_its_own_bound_writes_refused(tmp_path):
    page = _quorum_loss(tmp_path / "ok", ())
    row = re.search(r'<tr class="[^"]*" data-metric="writes_during_fault">.*?</tr>', page).group(0)
    assert "none acknowledged" in row and "<td>refused</td>" in row and "mark-ok" in row
    bad = _quorum_loss(tmp_path / "bad", ("3 writes acknowledged after the fault took full effect at 2.2 s and "
                                          "before heal at 20 s; expect_writes_refused is true",))
    row = re.search(r'<tr class="breach" data-metric="writes_during_fault">.*?</tr>', bad).group(0)
    assert "3 acknowledged" in row and "mark-breach" in row


def test_an_experiment_shows_its_prediction_and_a_far_ones_explanation(tmp_path):
    verdict = Verdict("pass", (), {"unavailability_s": 13.0, "recovery_s": 13.2})
    doc = build_result(experiment="postgres/primary-node-crash", component="postgres", fault="crash",
                       platform="local", seed=1, target={}, proof={"proven": True}, config={},
                       windows={"injected_s": 2.0, "healed_s": 20.0, "end_s": 30.0}, verdict=verdict, slo=SLO(),
                       extra={"prediction": {"fault_class": "silent", "predicted_s": 10.0, "formula": "f(x)",
                                             "measured_s": 13.0, "ratio": 1.3, "off": True,
                                             "explanation": {"detection_s": 5.0, "election_s": 2.0,
                                                             "reconnect_s": 6.0}}})
    write_result(tmp_path, doc, [Event(t=1.0, kind=OK, process="w0", op="write", value=1)])
    page = render_report(tmp_path)
    assert "<dt>predicted failover</dt>" in page
    assert ("measured 13.0 s is 1.3x the predicted 10.0 s (silent: f(x)); from the pods&#x27; logs: detection 5.0 s, "
            "election 2.0 s, clients&#x27; reconnect 6.0 s") in page
