"""ClickHouse without servers: system.replicas parsing and roles, error classification, the
insert's settings, and the component's kind-only guard, steadiness and targets on a fake
manifest-deployed platform.

The system.replicas rows below were produced by ClickHouse's own JSONEachRow writer (chdb-core
26.9.0, engine 26.9.2.1) for rows with system.replicas' column types (is_leader UInt8,
absolute_delay UInt64, queue_size/total_replicas/active_replicas UInt32); the quoted row with
output_format_json_quote_64bit_integers=1. No replicated table runs here (no Keeper), so the
values are chosen, the format is recorded.
"""

from dataclasses import dataclass

import pytest

from chaos.components import clickhouse as ch

ROWS_26_9 = (
    '{"database":"chaos","table":"probe_writes","replica_name":"clickhouse-0","is_leader":1,"is_readonly":0,'
    '"is_session_expired":0,"absolute_delay":0,"queue_size":0,"total_replicas":3,"active_replicas":3}\n'
    '{"database":"chaos","table":"probe_writes","replica_name":"clickhouse-1","is_leader":1,"is_readonly":0,'
    '"is_session_expired":0,"absolute_delay":12,"queue_size":4,"total_replicas":3,"active_replicas":2}\n'
    '{"database":"chaos","table":"probe_writes","replica_name":"clickhouse-2","is_leader":0,"is_readonly":1,'
    '"is_session_expired":1,"absolute_delay":0,"queue_size":0,"total_replicas":3,"active_replicas":2}\n')
ROW_QUOTED = ('{"database":"chaos","table":"probe_writes","replica_name":"clickhouse-1","is_leader":1,"is_readonly":0,'
              '"is_session_expired":0,"absolute_delay":"7","queue_size":1,"total_replicas":3,"active_replicas":3}\n')
OTHER_TABLE = '{"database":"system","table":"query_log","replica_name":"x","is_leader":0}\n'


def test_replica_rows_parse_to_roles():
    rows = ch.parse_replicas(ROWS_26_9)
    states = [ch.replica_state([r]) for r in rows]
    assert [ch.role_of(s) for s in states] == ["leader", "leader", "readonly"]
    assert states[1]["absolute_delay_s"] == 12 and states[1]["queue_size"] == 4 and states[1]["active_replicas"] == 2
    assert states[2]["session_expired"] and states[2]["readonly"]


def test_quoted_64bit_integers_are_numbers():
    state = ch.replica_state(ch.parse_replicas(ROW_QUOTED))
    assert state["absolute_delay_s"] == 7 and isinstance(state["absolute_delay_s"], int)


def test_a_replica_without_the_probe_table_has_no_state():
    with pytest.raises(ValueError, match="no row for chaos.probe_writes"):
        ch.replica_state(ch.parse_replicas(OTHER_TABLE))
    assert ch.role_of(None) == "unknown"


@pytest.mark.parametrize("text,header,code", [
    ("Code: 242. DB::Exception: Table is in readonly mode. (TABLE_IS_READ_ONLY) (version 25.8.1.1)", None, 242),
    ("Code: 159. DB::Exception: Timeout exceeded while waiting for quorum. (TIMEOUT_EXCEEDED)", None, 159),
    ("anything", "285", 285),
    ("<html>bad gateway</html>", None, None),
])
def test_exception_codes(text, header, code):
    assert ch.parse_exception_code(text, header) == code


def test_definite_and_indeterminate_codes():
    # Refused before writing: definite. Quorum timeout, unknown insert status, Keeper lost
    # mid-commit: the part may exist, so indeterminate.
    assert all(ch.is_definite_code(c) for c in (242, 285, 286, 225))
    assert not any(ch.is_definite_code(c) for c in (159, 319, 999, None))


def test_insert_settings_carry_quorum_and_dedup_token():
    p = ch.insert_params("pg/kill:42", 2, 10000)
    assert p == {"insert_quorum": "2", "insert_quorum_timeout": "10000",
                 "insert_deduplication_token": "pg/kill:42", "wait_end_of_query": "1"}


def test_ddl_sets_the_dedup_window_of_the_engine_family():
    rep = ch.table_ddl(ch.replicated_engine())[1]
    assert "ReplicatedMergeTree('/clickhouse/tables/{shard}/chaos/probe_writes', '{replica}')" in rep
    assert rep.startswith("CREATE TABLE IF NOT EXISTS chaos.probe_writes (experiment String, id UInt64")
    assert "replicated_deduplication_window = 100000" in rep
    assert "non_replicated_deduplication_window = 100000" in ch.table_ddl("MergeTree")[1]
    assert ch.sql_string("it's a \\ test") == "'it\\'s a \\\\ test'"


@dataclass(frozen=True)
class Pod:
    name: str
    node: str
    zone: str


class FakeKind:
    name = "kind"

    def __init__(self, answers):
        self.answers = answers
        self.deployed = []

    def deploy_stack(self, component, timeout_s=600):
        self.deployed.append(component)
        return []

    def endpoints(self, component, port=None):
        assert port == ch.HTTP_PORT
        return [(f"clickhouse-{i}", f"10.0.{i}.5", port) for i in range(3)]

    def pods(self, component):
        return [Pod(f"clickhouse-{i}", f"w{i}", "abc"[i]) for i in range(3)]


def fake_cluster(monkeypatch, answers):
    def fake_query(endpoint, sql, params=None, body=b"", **kw):
        answer = answers[endpoint]
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(ch, "query", fake_query)
    return ch.ClickHouseCluster(FakeKind(answers))


def _rows(i):
    return ch.parse_replicas(ROWS_26_9)[i]


def test_steady_needs_every_replica_answering_writable_and_current(monkeypatch):
    import json

    healthy = {**_rows(0), "active_replicas": 3}
    answers = {f"10.0.{i}.5:8123": json.dumps({**healthy, "replica_name": f"clickhouse-{i}"}) for i in range(3)}
    ok, seen = fake_cluster(monkeypatch, answers).steady()
    assert ok, seen["problems"]

    answers["10.0.1.5:8123"] = json.dumps(_rows(1))  # 12 s behind
    answers["10.0.2.5:8123"] = ConnectionRefusedError("refused")
    ok, seen = fake_cluster(monkeypatch, answers).steady()
    assert not ok
    assert any("clickhouse-1 is 12 s behind" in p for p in seen["problems"])
    assert any(p.startswith("clickhouse-2 does not answer") for p in seen["problems"])


def test_targets_offer_every_pod_as_replica_and_leaders_too(monkeypatch):
    import json

    answers = {"10.0.0.5:8123": json.dumps(_rows(0)), "10.0.1.5:8123": json.dumps(_rows(2)),
               "10.0.2.5:8123": ConnectionRefusedError("refused")}
    targets = fake_cluster(monkeypatch, answers).targets()
    assert sorted((t.pod, t.role) for t in targets) == [
        ("clickhouse-0", "leader"), ("clickhouse-0", "replica"), ("clickhouse-1", "replica"),
        ("clickhouse-2", "replica")]
    assert {t.zone for t in targets} == {"a", "b", "c"}


def test_config_names_quorum_and_timeouts(monkeypatch):
    cfg = fake_cluster(monkeypatch, {}).config()
    assert cfg["insert_quorum"] == 2 and cfg["insert_quorum_timeout_ms"] == 10000
    assert cfg["op_timeout_s"] == 12.0 and "password" not in cfg
    assert cfg["insert"]["insert_deduplication_token"] == "<experiment>:<value>"
