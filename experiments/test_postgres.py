"""PostgreSQL + repmgr experiments: one per fault, each asserting its SLO from slo.yaml."""

import pytest

import chaos

# The experiments: chaos list, chaos run and selectors find them here (their SLOs are in slo.yaml).
# Negative controls must FAIL; their tests are in tests/integration.
EXPERIMENTS = (
    chaos.experiment("postgres", chaos.kill(role="primary"), name="primary-kill", hold_s=30,
                     description="SIGKILL every process of the primary's pod; repmgrd promotes a standby"),
    chaos.experiment("postgres", chaos.kill(role="standby"), name="standby-kill", hold_s=10,
                     description="SIGKILL every process of one standby's pod; writes continue on the primary"),
    chaos.experiment("postgres", chaos.drain(role="primary"), name="primary-node-drain", hold_s=15,
                     description="cordon the primary's node and stop its pods gracefully until uncordon"),
    chaos.experiment("postgres", chaos.partition(role="primary"), name="primary-zone-partition", hold_s=25,
                     description="cut the primary's zone off from the other zones; clients still reach it"),
    chaos.experiment("postgres", chaos.partition(role="primary", cut_clients=True),
                     name="primary-zone-isolation", hold_s=25,
                     description="cut the primary's zone off from the other zones and from the clients"),
    chaos.experiment("postgres", chaos.crash(role="primary"), name="primary-node-crash", hold_s=25,
                     description="kill every process on the primary's node hard and take its link down"),
    chaos.experiment("postgres", chaos.partition(role="primary"), name="negative-async-partition", hold_s=20,
                     description=("negative control: asynchronous replication, primary cut off from its standbys while "
                                  "clients still write to it; acknowledged writes must be reported lost"),
                     deployment={"sync": False, "name": "pgasync", "port": 5433}, negative_control=True),
    chaos.experiment("postgres", chaos.partition(role="primary"), name="negative-unfenced-split-brain", hold_s=20,
                     description=("negative control: asynchronous replication and no fencing; the old primary keeps taking "
                                  "writes after a standby is promoted: split brain and lost writes must be reported"),
                     deployment={"sync": False, "fence": False, "name": "pgsplit", "port": 5434},
                     negative_control=True, recovery_timeout_s=20),
    chaos.experiment("postgres", chaos.partition(role="primary"), name="negative-location-per-zone", hold_s=20,
                     description=("negative control: repmgr location set to each node's zone; cutting the primary's zone "
                                  "off cancels the election (no failover), which the verdict must report"),
                     deployment={"location_per_zone": True, "name": "pgzoned", "port": 5435}, negative_control=True),
)

POSTGRES = [s for s in EXPERIMENTS if not s.negative_control]


@pytest.fixture(scope="module", autouse=True)
def _remove_postgres_after_module(chaos_deployments):
    # The next component's experiments get the nodes to themselves.
    yield
    chaos_deployments.remove("postgres")


@pytest.mark.chaos
@pytest.mark.parametrize("scenario", POSTGRES, ids=lambda s: s.name)
def test_postgres(scenario, chaos_experiment):
    outcome = chaos_experiment(scenario)
    assert outcome.verdict.verdict == "pass", outcome.message
