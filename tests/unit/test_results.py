"""The results contract: building, atomic writing, loading and the plain-text reports.

Everything is written under tmp_path.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from chaos import results as results_mod
from chaos.checkers import Verdict
from chaos.errors import InvalidConfig
from chaos.results import build_result, junit_properties, load_results, summary_table, write_result
from chaos.slo import SLO
from chaos.timeline import INVOKE, NEMESIS, OK, Event, load_jsonl

EVENTS = [
    Event(0.2, OK, "w0", "write", value=1, node="pg0", latency_s=0.1),
    Event(0.1, INVOKE, "w0", "write", value=1),
    Event(12.01, NEMESIS, "nemesis", "inject", value={"pod": "pg-0"}),
]


def make_result(experiment="postgres/primary-kill", verdict="pass", reasons=(), **metrics):
    base = {"unavailability_s": 4.61, "recovery_s": 5.02, "acked_writes": 1193, "lost_writes": 0,
            "duplicate_writes": 0, "split_brain": False, "probe_interval_s": 0.05, "ops": 1402, "errors": 88}
    base.update(metrics)
    return build_result(
        experiment=experiment, component="postgres", fault="kill", platform="local", seed=7,
        target={"pod": "pg-0", "node": "n1", "zone": "a", "role": "primary"},
        proof={"pid_before": 10, "pid_after": None}, config={"reconnect_interval": 1},
        windows={"injected_s": 12.0123, "healed_s": 42.3, "end_s": 60.2},
        verdict=Verdict(verdict, tuple(reasons), base), slo=SLO(),
        started_at=datetime(2024, 5, 1, 3, 0, tzinfo=timezone.utc),
    )


def test_build_result_follows_the_contract():
    r = make_result()
    for key in ("schema", "experiment", "component", "fault", "platform", "seed", "target", "proof", "config",
                "windows", "metrics", "slo", "verdict", "reasons", "timeline"):
        assert key in r, key
    assert r["schema"] == 1
    assert r["experiment"] == "postgres/primary-kill"
    assert r["windows"]["injected_s"] == 12.012
    assert r["slo"]["max_unavailability_s"] == 30
    assert r["started_at"] == "2024-05-01T03:00:00+00:00"
    assert r["duration_s"] == 60.2
    assert r["timeline"] == "timeline.jsonl"
    json.dumps(r)  # must be plain JSON


def test_build_result_qualifies_a_bare_experiment_name():
    assert make_result(experiment="primary-kill")["experiment"] == "postgres/primary-kill"


def test_extra_cannot_overwrite_contract_fields():
    with pytest.raises(ValueError, match="verdict"):
        build_result(experiment="x", component="postgres", fault="kill", platform="local", seed=1, target={},
                     proof={}, config={}, windows={}, verdict=Verdict("pass"), slo=SLO(), extra={"verdict": "pass"})
    r = build_result(experiment="x", component="postgres", fault="kill", platform="local", seed=1, target={},
                     proof={}, config={}, windows={}, verdict=Verdict("pass"), slo=SLO(), extra={"runner": "ci-3"})
    assert r["runner"] == "ci-3"


def test_write_then_load_round_trip(tmp_path):
    r = make_result()
    path = write_result(tmp_path, r, EVENTS)
    assert path == tmp_path / "postgres" / "primary-kill" / "result.json"
    assert load_results(tmp_path) == [r]
    timeline = load_jsonl(str(path.parent / "timeline.jsonl"))
    assert [e.t for e in timeline] == [0.1, 0.2, 12.01]  # sorted by time
    assert timeline[2].value == {"pod": "pg-0"}


def test_atomic_write_leaves_no_temp_files(tmp_path):
    path = write_result(tmp_path, make_result(), EVENTS)
    write_result(tmp_path, make_result(verdict="fail", reasons=["x"]), EVENTS)  # overwrite in place
    assert sorted(p.name for p in path.parent.iterdir()) == ["result.json", "timeline.jsonl"]
    assert json.loads(path.read_text())["verdict"] == "fail"


def test_failed_write_keeps_the_old_result_and_removes_the_temp_file(tmp_path, monkeypatch):
    path = write_result(tmp_path, make_result(), EVENTS)

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(results_mod.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        write_result(tmp_path, make_result(verdict="fail"), EVENTS)
    assert sorted(p.name for p in path.parent.iterdir()) == ["result.json", "timeline.jsonl"]
    assert json.loads(path.read_text())["verdict"] == "pass"


def test_experiment_name_cannot_escape_the_report_dir(tmp_path):
    with pytest.raises(InvalidConfig):
        write_result(tmp_path, make_result(experiment="postgres/.."), EVENTS)
    assert not any(tmp_path.iterdir())


def test_load_results_missing_dir_is_a_user_error(tmp_path):
    with pytest.raises(InvalidConfig, match="does not exist"):
        load_results(tmp_path / "nope")


def test_summary_table_contains_numbers_and_reasons(tmp_path):
    write_result(tmp_path, make_result(), EVENTS)
    write_result(tmp_path, make_result(experiment="postgres/standby-kill", verdict="fail",
                                       reasons=["unavailability 34.200 s > max_unavailability_s 30"],
                                       unavailability_s=34.2, recovery_s=None, lost_writes=2), EVENTS)
    table = summary_table(load_results(tmp_path))
    lines = table.splitlines()
    assert lines[0].split() == ["experiment", "verdict", "unavail_s", "pred_s", "ratio", "recovery_s", "acked",
                                "lost", "dup", "split", "slo"]
    kill = next(line for line in lines if line.startswith("postgres/primary-kill"))
    assert kill.split() == ["postgres/primary-kill", "PASS", "4.610", "-", "-", "5.020", "1193", "0", "0", "no",
                            "unavail<=30s"]
    standby = next(line for line in lines if line.startswith("postgres/standby-kill "))
    assert "34.200" in standby and " - " in standby
    assert "postgres/standby-kill FAIL: unavailability 34.200 s > max_unavailability_s 30" in lines
    assert not any(line.startswith("postgres/primary-kill PASS:") for line in lines)


def test_a_quorum_loss_row_shows_writes_refused_and_its_recovery_bound():
    from chaos.results import slo_text

    quorum = {"expect_writes_refused": True, "max_unavailability_s": None, "max_recovery_s": 45}
    assert slo_text(quorum) == "writes refused, recovery<=45s"
    assert slo_text({"max_unavailability_s": 15, "max_recovery_s": 20}) == "unavail<=15s"  # as before
    assert slo_text({}) == "-"
    doc = make_result(experiment="kafka/quorum-loss")
    doc["slo"] = quorum
    row = summary_table([doc]).splitlines()[2]
    assert row.startswith("kafka/quorum-loss") and row.endswith("writes refused, recovery<=45s")


def test_a_prediction_shows_beside_the_measurement_and_a_far_one_gets_its_explanation():
    near = make_result()
    near["prediction"] = {"fault_class": "kill", "predicted_s": 4.0, "formula": "f", "measured_s": 4.61,
                          "ratio": 1.15, "off": False}
    far = make_result(experiment="postgres/primary-node-crash", unavailability_s=13.0)
    far["prediction"] = {"fault_class": "silent", "predicted_s": 10.0, "formula": "g", "measured_s": 13.0,
                         "ratio": 1.3, "off": True,
                         "explanation": {"detection_s": 5.1, "election_s": 1.9, "reconnect_s": 6.0}}
    lines = summary_table([near, far]).splitlines()
    assert lines[2].split()[2:5] == ["4.610", "4.0", "1.15"]
    assert lines[3].split()[2:5] == ["13.000", "10.0", "1.30*"]
    assert lines[-1] == ("postgres/primary-node-crash: measured 13.0 s is 1.3x the predicted 10.0 s (silent: g); "
                         "from the pods' logs: detection 5.1 s, election 1.9 s, clients' reconnect 6.0 s")
    far["prediction"]["explanation"] = {"unexplained": "no detection marker in the pods' logs after the injection"}
    assert summary_table([far]).splitlines()[-1].endswith(
        "; unexplained: no detection marker in the pods' logs after the injection")


def test_junit_properties():
    props = dict(junit_properties(make_result(recovery_s=None)))
    assert props == {"unavailability_s": "4.61", "recovery_s": "", "lost_writes": "0", "acked_writes": "1193",
                     "verdict": "pass", "seed": "7"}
    assert [name for name, _ in junit_properties(make_result())][0] == "unavailability_s"



# ------------------------------------------------------------------------------ repeats


def test_each_repeat_has_its_own_directory_and_name(tmp_path):
    from chaos.results import Repeat, result_dir, run_name

    doc = {"experiment": "kafka/leader-kill", "component": "kafka"}
    assert result_dir(tmp_path, doc) == tmp_path / "kafka" / "leader-kill"
    assert run_name(doc) == "kafka/leader-kill"
    rep = {**doc, "repeat": Repeat(2, 3).to_dict()}
    assert result_dir(tmp_path, rep) == tmp_path / "kafka" / "leader-kill" / "repeat-2"
    assert run_name(rep) == "kafka/leader-kill #2"


@pytest.mark.parametrize("index, of", [(0, 3), (4, 3), (1, 0)])
def test_a_repeat_outside_its_count_is_refused(index, of):
    from chaos.errors import InvalidConfig
    from chaos.results import Repeat

    with pytest.raises(InvalidConfig, match="repeat"):
        Repeat(index, of)


def test_repeat_seeds_replay_and_differ():
    from chaos.results import repeat_seed

    seeds = [repeat_seed(1913123867, i) for i in range(1, 6)]
    assert seeds[0] == 1913123867 and len(set(seeds)) == 5
    assert seeds == [repeat_seed(1913123867, i) for i in range(1, 6)]
    assert all(0 < s < 2**31 for s in seeds)


def test_distribution_of_a_repeated_experiment(tmp_path):
    from chaos.results import distribution, distribution_table, distributions, write_distributions

    assert distribution([]) == {"n": 0, "median": None, "p95": None, "min": None, "max": None}
    assert distribution([3.0, None, 1.0, 2.0]) == {"n": 3, "median": 2.0, "p95": 2.9, "min": 1.0, "max": 3.0}
    docs = [{"experiment": "kafka/leader-kill", "component": "kafka", "seed": s, "verdict": v,
             "repeat": {"index": i, "of": 3}, "metrics": {"unavailability_s": u, "recovery_s": u + 0.5}}
            for i, s, v, u in [(1, 11, "pass", 3.86), (2, 12, "pass", 6.61), (3, 13, "fail", 4.5)]]
    single = {"experiment": "redis/master-kill", "component": "redis", "metrics": {"unavailability_s": 2.0}}
    dists = distributions(docs + [single])
    assert list(dists) == ["kafka/leader-kill"]  # a single run has no spread
    d = dists["kafka/leader-kill"]
    assert d["runs"] == 3 and d["seeds"] == [11, 12, 13] and d["verdicts"] == ["pass", "pass", "fail"]
    assert d["unavailability_s"] == {"n": 3, "median": 4.5, "p95": 6.399, "min": 3.86, "max": 6.61}
    table = distribution_table(docs + [single])
    assert "kafka/leader-kill" in table and "redis/master-kill" not in table and "6.610" in table
    assert distribution_table([single]) == ""
    (path,) = write_distributions(tmp_path, docs)
    assert path == tmp_path / "kafka" / "leader-kill" / "distribution.json"
    assert json.loads(path.read_text())["recovery_s"]["median"] == 5.0
