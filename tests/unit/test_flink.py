"""Flink: parsing of real answers (recorded from Flink 2.3.0 with ZooKeeper HA, two JobManagers on
loopback: tests/integration/test_flink_probe.py's setup), leader matching, and the probe's ledger
feeding the checkpoint loss rule (chaos.checkers.judge_checkpoints) as the verification does."""

from __future__ import annotations

import json

import pytest

from chaos.checkers import CheckpointAck, judge_checkpoints
from chaos.components.flink import (
    CheckpointLedger, FlinkCluster, FlinkProbeClient, FlinkSession, Observation, Settings, leader_path,
    match_jobmanager, parse_checkpoints, parse_job, parse_leader_info, rest_error)
from chaos.probe import DefiniteFailure

# /flink/chaos-test/leader/rest_server/connection_info, read with kazoo; the leader's log said
# "http://127.0.0.1:36149 was granted leadership with leaderSessionID=92e10ce7-a0a1-4d61-b4e1-5a5d6779ed3f".
CONNECTION_INFO = bytes.fromhex(
    "aced000577180016687474703a2f2f3132372e302e302e313a33363134397372000e6a6176612e7574696c2e55554944bc9903f7986d85"
    "2f0200024a000c6c65617374536967426974734a000b6d6f7374536967426974737870b4e15a5d6779ed3f92e10ce7a0a14d61")

# What a standby's REST answered while the leader was dead (forwarding to it), then during the election.
UNREACHABLE = json.dumps({"errors": ["Internal server error.", "<Exception on server side:\norg.apache.flink.runtime."
    "rpc.exceptions.RecipientUnreachableException: Could not send message [RemoteFencedMessage(a304adfdfc3a4bde1c2fc7"
    "9160e54500, RemoteRpcInvocation(RestfulGateway.requestExecutionGraphInfo(JobID, Duration)))] from sender [Actor["
    "pekko://flink/temp/dispatcher_1$j]] to recipient [Actor[pekko.tcp://flink@127.0.0.1:41407/user/rpc/dispatcher_1#"
    "-1538075081]], because the recipient is unreachable. This can either mean that the recipient has been terminated "
    "or that the remote RpcService is currently not reachable.\n\tat org.apache.flink.runtime.rpc.pekko.DeadLetters"
    "Actor.handleDeadLetter(DeadLettersActor.java:61)\n"]})
ELECTION = '{"errors":["Service temporarily unavailable due to an ongoing leader election. Please refresh."]}'

# /jobs/<id> (trimmed to the fields the harness reads): the new leader recovering the job, then running it.
JOB_INITIALIZING = {"jid": "c4a05000000000000000000000000001", "name": "chaos-probe", "state": "INITIALIZING",
                    "now": 1795778124594, "vertices": []}
JOB_RUNNING = {"jid": "c4a05000000000000000000000000001", "name": "chaos-probe", "state": "RUNNING",
               "now": 1795778127722, "vertices": [
                   {"id": "bc764cd8ddf7a0cff126f51c16239658", "name": "Source: chaos-probe-source", "status": "RUNNING"},
                   {"id": "20ba6b65f97481d5570070de90e4e791", "name": "chaos-probe-count -> chaos-probe-sink: Writer",
                    "status": "RUNNING"}]}
# /jobs/<id>/checkpoints (trimmed): before the leader was killed, and after the standby restored it.
CHECKPOINTS_BEFORE = {"counts": {"restored": 0, "total": 6, "in_progress": 0, "completed": 5, "failed": 1}, "latest": {
    "completed": {"id": 5, "status": "COMPLETED", "trigger_timestamp": 1795778109569,
                  "external_path": "file:/tmp/flinkx/run/checkpoints/c4a05000000000000000000000000001/chk-5"},
    "savepoint": None, "failed": None, "restored": None}}
CHECKPOINTS_AFTER = {"counts": {"restored": 1, "total": 2, "in_progress": 0, "completed": 2, "failed": 0}, "latest": {
    "completed": {"id": 11, "status": "COMPLETED", "trigger_timestamp": 1795778125284,
                  "external_path": "file:/tmp/flinkx/run/checkpoints/c4a05000000000000000000000000001/chk-11"},
    "savepoint": None, "failed": None,
    "restored": {"id": 9, "restore_timestamp": 1795778124811, "is_savepoint": False,
                 "external_path": "file:/tmp/flinkx/run/checkpoints/c4a05000000000000000000000000001/chk-9"}}}


def test_leader_info_from_zookeeper_node():
    assert parse_leader_info(CONNECTION_INFO) == ("http://127.0.0.1:36149", "92e10ce7-a0a1-4d61-b4e1-5a5d6779ed3f")
    assert leader_path("/chaos-test") == "/flink/chaos-test/leader/rest_server/connection_info"
    with pytest.raises(ValueError):
        parse_leader_info(b"http://127.0.0.1:8081")
    with pytest.raises(ValueError):
        parse_leader_info(CONNECTION_INFO[:20])


def test_leader_is_matched_to_its_jobmanager_by_host_and_port():
    jms = [("flink-jobmanager-0", "http://10.244.1.5:8081"), ("flink-jobmanager-1", "http://10.244.2.7:8081")]
    assert match_jobmanager("http://10.244.2.7:8081", jms) == "flink-jobmanager-1"
    assert match_jobmanager("http://10.244.2.7:9999", jms) is None
    assert match_jobmanager("http://127.0.0.1:36149", [("jm0", "http://127.0.0.1:36149/"), ("jm1", "http://127.0.0.1:1")]) == "jm0"


def test_standby_answers_are_named():
    assert rest_error(500, UNREACHABLE) == "HTTP 500: leading JobManager unreachable"
    assert rest_error(503, ELECTION) == "HTTP 503: leader election in progress"
    assert rest_error(404, '{"errors":["org.apache.flink.runtime.rest.NotFoundException: Job x not found"]}') \
        == "HTTP 404: job not found"
    assert rest_error(502, "<html>bad gateway</html>") == "HTTP 502: <html>bad gateway</html>"


def test_job_and_checkpoint_answers():
    assert parse_job(JOB_INITIALIZING)["running"] is False
    job = parse_job(JOB_RUNNING)
    assert job["running"] and job["vertices"] == ["RUNNING", "RUNNING"] and job["now"] == 1795778127722
    restarting = {**JOB_RUNNING, "vertices": [{**JOB_RUNNING["vertices"][0], "status": "DEPLOYING"},
                                              JOB_RUNNING["vertices"][1]]}
    assert parse_job(restarting)["running"] is False
    before, after = parse_checkpoints(CHECKPOINTS_BEFORE), parse_checkpoints(CHECKPOINTS_AFTER)
    assert before["completed"] == (5, 1795778109569) and before["restored"] is None
    assert after["completed"] == (11, 1795778125284) and after["restored"] == (9, 1795778124811)
    assert Observation.from_answers(JOB_RUNNING, CHECKPOINTS_AFTER).checkpoint == 11
    assert Observation.from_answers(JOB_INITIALIZING, {"latest": {}}).checkpoint is None


def obs(now, cp=None, restored=None, running=True, trigger=None):
    return Observation(now_ms=now, state="RUNNING" if running else "RESTARTING", running=running,
                       completed=(cp, trigger if trigger is not None else now - 50) if cp else None, restored=restored)


def ledger_of(*observations):
    ledger = CheckpointLedger()
    for i, o in enumerate(observations):
        ledger.record(i + 1, o)
    return ledger


def test_ledger_acknowledges_running_answers_and_counts_new_checkpoints():
    ledger = ledger_of(obs(1000, None), obs(2000, 1), obs(2100, 1), obs(3000, 2), obs(3500, 2, running=False))
    assert [a.value for a in ledger.acks] == [1, 2, 3, 4]
    assert [a.checkpoint for a in ledger.acks] == [None, 1, 1, 2]
    assert ledger.checkpoints == [1, 2] and ledger.last_acked() == 2
    assert len(ledger.observations) == 5


def test_failover_restoring_the_last_acknowledged_checkpoint_loses_nothing():
    # Real shape: acks on 5..9, the leader dies, the standby restores 9 and checkpoints 10, 11.
    ledger = ledger_of(obs(1000, 5), obs(3000, 7), obs(5000, 9), obs(9000, None, restored=(9, 8800)),
                       obs(10000, 11, restored=(9, 8800)))
    verdict = judge_checkpoints(ledger.acks, ledger.observations, mismatches=0)
    assert verdict["lost"] == [] and verdict["last_acked_checkpoint"] == 11
    assert verdict["restores"] == [{"id": 9, "restore_ms": 8800}]


def test_restore_to_an_older_checkpoint_loses_the_newer_acknowledgements():
    ledger = ledger_of(obs(1000, 5), obs(3000, 7), obs(5000, 9), obs(10000, 11, restored=(7, 8800)))
    verdict = judge_checkpoints(ledger.acks, ledger.observations)
    assert verdict["lost"] == [3]
    assert verdict["reasons"] == ["restored from checkpoint 7 < acknowledged 9"]


def test_loss_is_found_even_when_later_checkpoints_have_higher_ids():
    # The ZooKeeper counter keeps ids growing after a bad restore: the restore itself gives it away.
    ledger = ledger_of(obs(1000, 8), obs(2000, 9), obs(9000, 10, restored=(3, 8800)), obs(11000, 12, restored=(3, 8800)))
    assert judge_checkpoints(ledger.acks, ledger.observations)["lost"] == [1, 2]


def test_a_restore_before_the_acknowledgement_is_not_a_loss():
    # Restored from 3 at 800, then checkpoints 5 and 7 acknowledged: the old restore is no loss.
    ledger = ledger_of(obs(1000, 5, restored=(3, 800)), obs(3000, 7, restored=(3, 800)))
    assert judge_checkpoints(ledger.acks, ledger.observations)["lost"] == []


def test_counter_going_backwards_is_a_loss():
    # A fresh job (lost HA metadata): checkpoints start again at 1, no restore at all.
    ledger = ledger_of(obs(1000, 6), obs(2000, 7), obs(9000, 1), obs(11000, 2))
    verdict = judge_checkpoints(ledger.acks, ledger.observations)
    assert verdict["lost"] == [1, 2] and "went back to 1" in verdict["reasons"][0]


def test_reused_checkpoint_id_is_a_loss():
    acks = [CheckpointAck(1, 1000, 4, trigger_ms=900, restore_ms=None)]
    observations = [obs(1000, 4, trigger=900), obs(20000, 4, trigger=19000)]
    assert judge_checkpoints(acks, observations)["lost"] == [1]


def test_mismatched_counts_lose_every_checkpointed_acknowledgement():
    ledger = ledger_of(obs(1000, None), obs(2000, 1), obs(3000, 2))
    verdict = judge_checkpoints(ledger.acks, ledger.observations, mismatches=3)
    assert verdict["lost"] == [2, 3] and verdict["mismatches"] == 3


class _NoLeader:
    def leader(self):
        raise LookupError("no leader published at /flink/x/leader/rest_server/connection_info")


def test_probe_operation_without_a_leader_is_a_definite_failure():
    session = FlinkSession(jobmanagers=lambda: [], zk_hosts=lambda: "127.0.0.1:1", cluster_id="/x", job_id="j")
    session.finder = _NoLeader()
    client = FlinkProbeClient(session, CheckpointLedger(), op_timeout_s=1.0)
    with pytest.raises(DefiniteFailure, match="no leading JobManager"):
        client.write(1)
    assert session.roles() == {}


def test_settings_name_the_failover_knobs():
    conf = Settings().failover_conf()
    assert conf["high-availability.type"] == "zookeeper"
    assert conf["heartbeat.interval"] == "2000" and conf["heartbeat.timeout"] == "10000"
    assert conf["execution.checkpointing.interval"] == "2000ms"
    assert conf["restart-strategy.type"] == "fixed-delay"
    assert Settings().predicted_failover_s() == 14.0


class _Pod:
    def __init__(self, name, node, zone):
        self.name, self.node, self.zone = name, node, zone


class _KindLike:
    """The manifest-deployed platform interface, as far as FlinkCluster uses it."""

    name = "kind"

    def deploy_stack(self, component, timeout_s=600):
        raise AssertionError("not deployed in unit tests")

    def endpoints(self, component, port=None):
        return {"flink-jobmanager": [("flink-jobmanager-0", "10.244.1.5", 8081), ("flink-jobmanager-1", "10.244.2.7", 8081)],
                "zookeeper": [("zookeeper-0", "10.244.1.9", 2181)]}[component]

    def pods(self, component):
        return {"flink-jobmanager": [_Pod("flink-jobmanager-0", "w1", "a"), _Pod("flink-jobmanager-1", "w3", "b")],
                "flink-taskmanager": [_Pod("flink-taskmanager-0", "w5", "c")]}[component]


class _Finder:
    def __init__(self, session):
        self.session = session

    def leader(self):
        from chaos.components.flink import match_jobmanager
        url = "http://10.244.2.7:8081"
        return match_jobmanager(url, self.session.jobmanagers()), url, "92e10ce7-a0a1-4d61-b4e1-5a5d6779ed3f"


class _Rest:
    """The leader's REST: a probe job that FAILED in an earlier experiment, until resubmitted."""

    def __init__(self):
        self.jobs = {"old": "FAILED"}
        self.calls = []

    def get(self, base, path, timeout_s=None):
        self.calls.append((base, path))
        if path == "/overview":
            return {"taskmanagers": 1}
        if path == "/jobs/overview":
            return {"jobs": [{"jid": j, "name": "chaos-probe", "state": s} for j, s in self.jobs.items()]}
        jid = path.split("/")[2]
        return {**JOB_RUNNING, "jid": jid, "state": self.jobs[jid],
                "vertices": JOB_RUNNING["vertices"] if self.jobs[jid] == "RUNNING" else []}

    def upload_jar(self, base, jar):
        return "abc_chaos-probe.jar"

    def run_jar(self, base, jar_id, job_id, args):
        self.jobs[job_id] = "RUNNING"
        return job_id


def test_component_roles_and_a_new_probe_job_after_a_failed_one(monkeypatch):
    import chaos.components.flink as flink

    monkeypatch.setattr(flink, "ensure_probe_jar", lambda log=None: "/nonexistent/chaos-probe.jar")
    cluster = FlinkCluster(_KindLike())
    cluster.session.finder = _Finder(cluster.session)
    cluster.session.rest = rest = _Rest()
    cluster.session.job_id = "old"
    assert {t.pod: (t.role, t.zone) for t in cluster.targets()} == {
        "flink-jobmanager-0": ("standby", "a"), "flink-jobmanager-1": ("leader", "b"),
        "flink-taskmanager-0": ("taskmanager", "c")}
    ok, seen = cluster.steady()
    assert not ok and seen["problems"] == ["probe job FAILED, tasks []"]
    seen = cluster.prepare(timeout_s=5)
    assert seen["problems"] == [] and seen["leader"] == "flink-jobmanager-1"
    assert cluster.session.job_id not in (None, "old") and rest.jobs[cluster.session.job_id] == "RUNNING"
    assert all(base == "http://10.244.2.7:8081" for base, _path in rest.calls)
    assert cluster._zk_hosts() == "10.244.1.9:2181"


# --------------------------------------------------------------------------- the local platform


class _LocalNodes:
    """A local-platform stand-in: three nodes, one per zone; nothing is started."""

    name = "local"

    def nodes(self):
        from chaos.platforms.base import Node

        return [Node(f"chaos-{z}1", z, f"10.0.0.{i + 11}") for i, z in enumerate("abc")]


def test_on_the_local_platform_flink_is_the_local_cluster_spread_over_the_zones():
    from chaos.components.flink import FlinkCluster
    from chaos.components.flink_local import LocalFlinkCluster

    fc = FlinkCluster(_LocalNodes())
    assert isinstance(fc, LocalFlinkCluster) and fc.ha
    assert [n.zone for n in fc.jm_nodes] == ["a", "b"] and [n.zone for n in fc.tm_nodes] == ["a", "b", "c"]
    assert fc.s3_node.zone == "c" and fc.zk.client_port == 2182 and fc.zk.quorum_port == 2889
    conf = fc._common_conf()
    assert conf["high-availability.storageDir"].startswith("s3://")
    assert conf["execution.checkpointing.dir"].startswith("s3://")
    assert conf["high-availability.zookeeper.quorum"] == "10.0.0.11:2182,10.0.0.12:2182,10.0.0.13:2182"


def test_without_ha_one_jobmanager_leads_and_no_zookeeper_is_deployed():
    from chaos.components.flink import FlinkCluster

    fc = FlinkCluster(_LocalNodes(), ha=False, name="flink-noha")
    assert fc.zk is None and fc.jm_pods == ["flink-noha-jm-0"]
    assert fc.session.roles() == {"flink-noha-jm-0": "leader"}
    assert fc._common_conf()["high-availability.type"] == "none"
    assert "high-availability.storageDir" not in fc._common_conf()


def test_native_kubernetes_ha_is_refused_on_the_local_platform_naming_kind():
    from chaos.components.flink import FlinkCluster
    from chaos.errors import InvalidConfig

    with pytest.raises(InvalidConfig, match="kubernetes") as err:
        FlinkCluster(_LocalNodes(), settings=Settings(ha_type="kubernetes"))
    assert "kind" in err.value.fix


def test_the_taskmanager_running_the_job_is_the_taskmanager_target(monkeypatch):
    from chaos.components.flink import FlinkCluster

    fc = FlinkCluster(_LocalNodes())
    monkeypatch.setattr(fc.session, "roles", lambda: {"flink-jm-0": "standby", "flink-jm-1": "leader"})
    monkeypatch.setattr(fc, "_busy_taskmanagers", lambda: {"flink-tm-2"})
    roles = {t.pod: (t.role, t.zone) for t in fc.targets()}
    assert roles == {"flink-jm-0": ("standby", "a"), "flink-jm-1": ("leader", "b"),
                     "flink-tm-0": ("spare-taskmanager", "a"), "flink-tm-1": ("spare-taskmanager", "b"),
                     "flink-tm-2": ("taskmanager", "c")}


def test_predictions_per_fault_class_and_role():
    s = Settings()
    assert s.predict("kill", "leader").predicted_s == s.zk_session_timeout_ms / 1000 + 8.0
    assert s.predict("silent", "leader").predicted_s == s.predict("kill", "leader").predicted_s
    assert s.predict("graceful", "leader").predicted_s == 8.0
    assert s.predict("kill", "taskmanager").predicted_s == 2.0 + 1.0 + 0.5
    assert s.predict("silent", "taskmanager").predicted_s == 10.0 + 1.0 + 0.5
    assert s.predict("kill", "standby") is None and s.predict("kill", "spare-taskmanager") is None
    assert Settings(ha_type="none").predict("kill", "leader") is None
