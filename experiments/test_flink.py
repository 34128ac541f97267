"""Flink experiments: one per fault, each asserting its SLO from slo.yaml. On the local platform
(the default) the cluster is chaos.components.flink_local (two JobManagers with ZooKeeper HA, three
TaskManagers across the zones, checkpoints and HA storage on an s3proxy S3 server standing in for
MinIO); on --chaos-platform kind it is fixtures/kind/flink."""

import pytest

import chaos

# The experiments: chaos list, chaos run and selectors find them here (their SLOs are in slo.yaml).
# Negative controls must FAIL; their tests are in tests/integration.
EXPERIMENTS = (
    chaos.experiment("flink", chaos.kill(role="leader"), name="jobmanager-kill", hold_s=60,
                     description=("SIGKILL the leading JobManager; the standby takes leadership and recovers the job from "
                                  "its latest checkpoint")),
    chaos.experiment("flink", chaos.kill(role="taskmanager"), name="taskmanager-kill", hold_s=45,
                     description="SIGKILL the TaskManager running the job; the job restarts from its latest checkpoint"),
    chaos.experiment("flink", chaos.drain(role="leader"), name="jobmanager-node-drain", hold_s=30,
                     description="cordon the leading JobManager's node and evict its pods until uncordon"),
    chaos.experiment("flink", chaos.crash(role="leader"), name="jobmanager-node-crash", hold_s=30,
                     description="kill everything on the leading JobManager's node hard and take the node down"),
    chaos.experiment("flink", chaos.partition(role="leader"), name="jobmanager-zone-partition", hold_s=30,
                     description=("cut the leading JobManager's zone off from the other zones; the standby takes over and "
                                  "resumes the job from the last acknowledged checkpoint or a later one")),
    chaos.experiment("flink", chaos.kill(role="leader"), name="negative-no-ha", hold_s=20,
                     description=("negative control: high availability off (one JobManager); SIGKILL it: it comes back "
                                  "without the job, which must be reported as no recovery and lost checkpoints"),
                     deployment={"ha": False, "name": "flink-noha"},
                     negative_control=True, recovery_timeout_s=20, only_on=("local",)),
)

FLINK = [s for s in EXPERIMENTS if not s.negative_control]


@pytest.fixture(scope="module", autouse=True)
def _remove_flink_after_module(chaos_deployments):
    yield
    chaos_deployments.remove("flink")


@pytest.mark.chaos
@pytest.mark.parametrize("scenario", FLINK, ids=lambda s: s.name)
def test_flink(scenario, chaos_experiment):
    outcome = chaos_experiment(scenario)
    assert outcome.verdict.verdict == "pass", outcome.message
