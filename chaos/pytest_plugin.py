"""The pytest plugin (registered through the pytest11 entry point): --chaos-* options, the
platform and deployment fixtures, `chaos_experiment`, JUnit properties and a summary table.

On --chaos-platform kind the session creates (or, with --keep-cluster, reuses and keeps) the kind
cluster of kind-config.yaml: fixture `chaos_kind_cluster`, deleted at the end unless kept, also
on Ctrl-C or SIGTERM; `chaos_platform` is then a KindPlatform on it, and `chaos_stack(component)`
deploys a component from fixtures/kind/ and returns its pods and endpoints."""

from __future__ import annotations

import os
import random
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

from . import options
from .catalog import Scenario, select
from .errors import ChaosError
from .run_loop import Outcome, RunSettings, run_scenario
from .ledger import new_run_id
from .results import Repeat, distribution_table, junit_properties, repeat_seed, summary_table, write_distributions
from .slo import SLOBook, load_slo_file

DEFAULT_SLO_FILE = Path(__file__).resolve().parents[1] / "experiments" / "slo.yaml"
_RESULTS = pytest.StashKey[list]()
_STATE = pytest.StashKey[dict]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chaos", "chaos harness")
    group.addoption("--chaos-platform", default=os.environ.get("CHAOS_PLATFORM", "local"),
                    help="where the stack runs: local (network namespaces on this host; default), kube (a Kubernetes "
                         "context: node and pod faults) or kind (a kind cluster from kind-config.yaml, the stack "
                         "deployed from fixtures/kind/)")
    group.addoption("--chaos-report-dir", default=None,
                    help="directory for results JSON and timelines (default: reports/<run id>)")
    group.addoption("--chaos-seed", type=int, default=None, help="seed for target choice (default: random, printed)")
    group.addoption("--chaos-repeat", default="1", metavar="N",
                    help="run each experiment N times, each with its own seed derived from --chaos-seed; "
                         "the spread (median, p95, min, max) is printed and written to distribution.json")
    group.addoption("--chaos-probe-interval", default=None, metavar="MS",
                    help="each probe worker starts an operation every MS milliseconds, whatever the previous one "
                         "took (5-10000; default 20)")
    group.addoption("--chaos-slo", default=os.environ.get("CHAOS_SLO_FILE", str(DEFAULT_SLO_FILE)),
                    help="SLO file (default: experiments/slo.yaml)")
    group.addoption("--chaos-select", action="append", default=[],
                    help="run only these experiments: postgres, postgres/primary-kill, kill, postgres/kill")
    group.addoption("--chaos-subnet", default=None, help="subnet of the local platform's bridge (default 10.213.0.0/24)")
    group.addoption("--chaos-report", default=None, metavar="FILE",
                    help="at the end of the session, write the HTML report of the results to FILE")
    group.addoption("--chaos-instance", default="",
                    help="another local-platform instance (0-3 letters: its own namespaces and bridge), "
                         "to run beside the default one; give it its own --chaos-subnet and --chaos-state-dir")
    group.addoption("--chaos-state-dir", default=None, help="ledger and run data (default /var/lib/chaos-harness)")
    group.addoption("--chaos-kubeconfig", default=None,
                    help="kube platform: kubeconfig file (default $KUBECONFIG, then ~/.kube/config)")
    group.addoption("--chaos-kube-context", default=None, help="kube platform: context (default: the current one)")
    group.addoption("--chaos-allow-context", action="append", default=[],
                    help="kube platform: allow faults in this context although it is not a kind cluster the "
                         "harness created (repeatable; also CHAOS_ALLOW_CONTEXTS=a,b)")
    group.addoption("--chaos-namespace", action="append", default=[],
                    help="kube platform: the stack's namespaces, the only ones the harness touches "
                         "(repeatable; default chaos-stack)")
    group.addoption("--keep-cluster", action="store_true", default=os.environ.get("CHAOS_KEEP_CLUSTER") == "1",
                    help="kind platform: reuse the kind cluster if it exists and keep it at the end (also "
                         "CHAOS_KEEP_CLUSTER=1); default: create it and delete it at the end")
    group.addoption("--chaos-kind-name", default=os.environ.get("CHAOS_KIND_NAME", "chaos"),
                    help="kind platform: the kind cluster's name (default chaos; context kind-<name>)")
    group.addoption("--chaos-image", action="append", default=[], metavar="KEY=REF",
                    help="kind platform: use image REF for stack.yaml's image KEY (repeatable; also "
                         "CHAOS_IMAGE_<KEY>=REF, KEY upper-cased, '-' -> '_')")


def _usage(exc: ChaosError) -> pytest.UsageError:
    return pytest.UsageError(f"chaos: {exc}")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos: an experiment that injects a fault (needs the chaos platform)")
    run_id = new_run_id()
    seed = config.getoption("chaos_seed")
    if seed is None:
        seed = random.SystemRandom().randrange(1, 2**31)
    state: dict[str, Any] = {"run_id": run_id, "seed": seed}
    try:
        state["repeat"] = options.repeat_count(config.getoption("chaos_repeat"), "--chaos-repeat")
        interval = config.getoption("chaos_probe_interval")
        state["settings"] = RunSettings(probe_interval_s=options.probe_interval_ms(interval, "--chaos-probe-interval")) \
            if interval is not None else RunSettings()
        state["slo_book"] = load_slo_file(config.getoption("chaos_slo"))
        state["selection"] = select(config.getoption("chaos_select"), include_negative=True) \
            if config.getoption("chaos_select") else None
        options.check_platform(config.getoption("chaos_platform"), "--chaos-platform")
        state["image_overrides"] = options.image_overrides(config.getoption("chaos_image"),
                                                           config.getoption("chaos_platform"))
    except ChaosError as exc:
        raise _usage(exc) from exc
    report_dir = config.getoption("chaos_report_dir") or os.path.join("reports", run_id)
    state["report_dir"] = Path(report_dir)
    config.stash[_STATE] = state
    config.stash[_RESULTS] = []
    # CI cancels with SIGTERM: turn it into KeyboardInterrupt so every fault heals on the way out.
    if hasattr(signal, "SIGTERM") and signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        def _term(signum, frame):
            raise KeyboardInterrupt("SIGTERM")
        signal.signal(signal.SIGTERM, _term)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """--chaos-repeat N: every test that runs experiments runs N times (ids r1..rN)."""
    repeat = metafunc.config.stash[_STATE].get("repeat", 1)
    if repeat > 1 and "chaos_experiment" in metafunc.fixturenames:
        metafunc.parametrize("chaos_repeat", range(1, repeat + 1), indirect=True, ids=lambda i: f"r{i}")


@pytest.fixture
def chaos_repeat(request: pytest.FixtureRequest) -> int:
    """Which run of a repeated experiment this test is (1 when not repeated)."""
    return getattr(request, "param", 1)


def _scenario_of(item: pytest.Item) -> Scenario | None:
    callspec = getattr(item, "callspec", None)
    value = callspec.params.get("scenario") if callspec else None
    return value if isinstance(value, Scenario) else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    state = config.stash[_STATE]
    selection = state.get("selection")
    if selection is not None:
        keep, drop = [], []
        for item in items:
            sc = _scenario_of(item)
            (keep if sc is None or sc in selection else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep
    platform = config.getoption("chaos_platform")
    if any(_scenario_of(i) is not None for i in items):
        try:
            options.check_experiment_platform(platform, "--chaos-platform")
        except ChaosError as exc:
            raise _usage(exc) from exc
    for item in items:
        sc = _scenario_of(item)
        if sc is not None and platform not in sc.platforms:
            item.add_marker(pytest.mark.skip(reason=f"{sc.component} is deployed from fixtures/kind only: "
                                                    "run it with --chaos-platform kind"))
    items_here = [i for i in items if (sc := _scenario_of(i)) is None or platform in sc.platforms]
    if any(_scenario_of(i) is not None or i.get_closest_marker("chaos") for i in items_here):
        # Fail before any fault when the machine cannot run the platform.
        try:
            options.check_prerequisites(platform, [sc.component for i in items_here
                                                   if (sc := _scenario_of(i)) is not None], "--chaos-platform")
        except ChaosError as exc:
            raise _usage(exc) from exc


@pytest.fixture(scope="session")
def chaos_state(pytestconfig: pytest.Config) -> dict[str, Any]:
    return pytestconfig.stash[_STATE]


@pytest.fixture(scope="session")
def chaos_kind_cluster(pytestconfig: pytest.Config, chaos_state):
    """The session's kind cluster (--chaos-platform kind): reused if it exists, created (and
    marked as the harness's) otherwise; deleted at the end unless --keep-cluster, also when the
    session is interrupted (pytest tears session fixtures down on Ctrl-C; SIGTERM is turned into
    Ctrl-C above)."""
    if pytestconfig.getoption("chaos_platform") != "kind":
        pytest.skip("needs --chaos-platform kind")
    from .platforms.kind import KindCluster

    state_dir = pytestconfig.getoption("chaos_state_dir")
    cluster = KindCluster(pytestconfig.getoption("chaos_kind_name"),
                          state_dir=Path(state_dir) if state_dir else None, log=_log,
                          keep=pytestconfig.getoption("keep_cluster"))
    cluster.up()
    try:
        yield cluster
    finally:
        cluster.down()


@pytest.fixture(scope="session")
def chaos_platform(pytestconfig: pytest.Config, chaos_state, request: pytest.FixtureRequest):
    from .platforms import get_platform

    kwargs: dict[str, Any] = {"run_id": chaos_state["run_id"], "log": _log}
    if pytestconfig.getoption("chaos_subnet"):
        kwargs["subnet"] = pytestconfig.getoption("chaos_subnet")
    if pytestconfig.getoption("chaos_instance"):
        kwargs["instance"] = pytestconfig.getoption("chaos_instance")
    if pytestconfig.getoption("chaos_state_dir"):
        kwargs["state_dir"] = Path(pytestconfig.getoption("chaos_state_dir"))
    if pytestconfig.getoption("chaos_platform") == "kube":
        kwargs.update(kubeconfig=pytestconfig.getoption("chaos_kubeconfig"),
                      context=pytestconfig.getoption("chaos_kube_context"),
                      allow_contexts=pytestconfig.getoption("chaos_allow_context"))
        if pytestconfig.getoption("chaos_namespace"):
            kwargs["namespaces"] = pytestconfig.getoption("chaos_namespace")
    elif pytestconfig.getoption("chaos_platform") == "kind":
        kwargs.update(cluster=request.getfixturevalue("chaos_kind_cluster"), images=chaos_state["image_overrides"],
                      allow_contexts=pytestconfig.getoption("chaos_allow_context"))
        if pytestconfig.getoption("chaos_namespace"):
            kwargs["namespaces"] = pytestconfig.getoption("chaos_namespace")
    platform = get_platform(pytestconfig.getoption("chaos_platform"), **kwargs)
    platform.up()
    try:
        yield platform
    finally:
        platform.close()


class Deployments:
    """Components deployed on the session's platform, once per variant, reused by experiments."""

    def __init__(self, platform):
        self.platform = platform
        self._deployed: dict[tuple, Any] = {}

    def get(self, component: str, **variant: Any):
        key = (component, tuple(sorted(variant.items())))
        if key not in self._deployed:
            from .components import get_component

            cls = get_component(component)
            deployment = cls(self.platform, **variant)
            from .progress import Progress

            with Progress(f"bring-up of {component} {variant or ''}".rstrip()):
                deployment.deploy()
            self._deployed[key] = deployment
        return self._deployed[key]

    def remove(self, component: str, **variant: Any) -> None:
        key = (component, tuple(sorted(variant.items())))
        deployment = self._deployed.pop(key, None)
        if deployment is not None:
            deployment.remove()


@pytest.fixture(scope="session")
def chaos_deployments(chaos_platform) -> Deployments:
    return Deployments(chaos_platform)


@pytest.fixture
def chaos_component(chaos_deployments) -> Callable[..., Any]:
    """A factory: chaos_component("postgres") is the deployed component (deployed once per
    session, shared with the experiments; keyword arguments deploy a variant). Its `targets()`
    lists its pods as they are now: pod, node, zone and role; its `target_roles` the roles."""
    return chaos_deployments.get


@dataclass(frozen=True)
class DeployedStack:
    """What `chaos_stack(component)` returns: the component's pods (chaos.platforms.kube.KubePod)
    and endpoints ((pod, pod IP, port), sorted by pod; pod IPs are reachable from this host)."""

    component: str
    pods: list
    endpoints: list


@pytest.fixture
def chaos_stack(pytestconfig: pytest.Config, request: pytest.FixtureRequest) -> Callable[..., DeployedStack]:
    """A factory: chaos_stack("zookeeper", timeout_s=600, port=None) deploys the component (its
    dependencies first; idempotent: a deployed one is reused for the session) and returns its
    DeployedStack. Needs a platform that deploys the stack from manifests (--chaos-platform kind)."""
    if pytestconfig.getoption("chaos_platform") != "kind":
        pytest.skip("chaos_stack deploys from fixtures/kind/: run with --chaos-platform kind")
    platform = request.getfixturevalue("chaos_platform")

    def deploy(component: str, timeout_s: float = 600, port: int | None = None) -> DeployedStack:
        pods = platform.deploy_stack(component, timeout_s)
        return DeployedStack(component, pods, platform.endpoints(component, port))

    return deploy


def _log(message: str) -> None:
    print(f"[chaos] {message}", flush=True)


@pytest.fixture
def chaos_experiment(request: pytest.FixtureRequest, chaos_state, chaos_platform, chaos_deployments,
                     record_property, chaos_repeat):
    """Run a Scenario (a built-in one of chaos.catalog, or one written with chaos.experiment) end
    to end; returns the Outcome (verdict, numbers, results path)."""
    book: SLOBook = chaos_state["slo_book"]
    repeat = Repeat(chaos_repeat, chaos_state.get("repeat", 1))
    seed = repeat_seed(chaos_state["seed"], repeat.index)

    def run(scenario: Scenario) -> Outcome:
        component = chaos_deployments.get(scenario.component, **scenario.deployment)
        slo = scenario.slo_from(book)
        which = f" (run {repeat.index} of {repeat.of})" if repeat.of > 1 else ""
        _log(f"{scenario.key}{which}: seed {seed}, SLO {slo.to_dict()}")
        from .progress import Progress

        outcome = run_scenario(chaos_platform, component, scenario, slo, seed=seed,
                               report_dir=chaos_state["report_dir"], run_id=chaos_state["run_id"], log=_log,
                               progress=Progress, repeat=repeat, settings=chaos_state["settings"])
        for name, value in junit_properties(outcome.result):
            record_property(name, value)
        request.config.stash[_RESULTS].append(outcome.result)
        _log(outcome.message)
        return outcome

    return run


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    results = config.stash.get(_RESULTS, [])
    if not results:
        return
    state = config.stash[_STATE]
    terminalreporter.section("chaos verdicts")
    terminalreporter.write_line(summary_table(results))
    spread = distribution_table(results)
    if spread:
        write_distributions(state["report_dir"], results)
        terminalreporter.write_line(f"spread over {state['repeat']} runs of each experiment (seconds):")
        terminalreporter.write_line(spread)
    terminalreporter.write_line(f"seed {state['seed']} (replay with --chaos-seed {state['seed']}); "
                                f"results in {state['report_dir']}")
    if config.getoption("chaos_report"):
        from .report import write_report

        try:
            path = write_report(state["report_dir"], out=config.getoption("chaos_report"))
            terminalreporter.write_line(f"chaos report: {path}")
        except ChaosError as exc:
            terminalreporter.write_line(f"chaos report not written: {exc}", red=True)
