"""`chaos run|list|report|heal|audit|doctor`: the command line over the pytest suite and the ledger.

Exit status: 0 every SLO met; 1 an SLO failed or a verdict is unknown; 2 invalid input
(nothing was injected); 3 the harness itself failed; 130 interrupted (faults healed).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import options
from .errors import ChaosError, HealError, InvalidConfig

EXIT_OK, EXIT_SLO, EXIT_INPUT, EXIT_HARNESS, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a writer whose reader went away
EXPERIMENTS_DIR = Path(__file__).resolve().parents[1] / "experiments"


def _err(msg: str) -> None:
    print(f"chaos: {msg}", file=sys.stderr)


def cmd_list(args) -> int:
    from .catalog import select
    from .slo import load_slo_file

    book = load_slo_file(args.slo)
    scenarios = select(args.selector, include_negative=True)
    width = max(len(s.key) for s in scenarios)
    for s in scenarios:
        slo = s.slo_from(book)
        tag = " [negative control]" if s.negative_control else ""
        print(f"{s.key:<{width}}  {s.fault:<9} role={s.role:<8} hold={s.hold_s:>4.0f}s  "
              f"max_unavailability_s={slo.max_unavailability_s} max_lost_writes={slo.max_lost_writes}{tag}")
        print(f"{'':<{width}}  {s.description}")
    return EXIT_OK


def _on_platform(scenarios, platform: str, *, explicit: bool):
    """The scenarios that run on the platform. With no selector, the others are left out (said on
    stdout); a selector that names only components the platform cannot deploy is an input error."""
    from .catalog import on_platform

    kept = on_platform(scenarios, platform)
    left = sorted({s.component for s in scenarios} - {s.component for s in kept})
    if not kept:
        raise InvalidConfig(f"{', '.join(left)} cannot be deployed on the {platform} platform",
                            field="--platform", fix="run them with --platform kind (a kind cluster with Docker)")
    if left and explicit:
        raise InvalidConfig(f"{', '.join(left)} cannot be deployed on the {platform} platform",
                            field="selector", fix="leave them out, or run them with --platform kind")
    if left:
        print(f"chaos: not on the {platform} platform (kind only): {', '.join(left)}", flush=True)
    return kept


def _validate_run(args):
    from .catalog import select
    from .slo import load_slo_file

    options.check_experiment_platform(args.platform, "--platform")
    book = load_slo_file(args.slo)
    from .catalog import SCENARIOS
    from .slo import validate_selection

    for component in book.component_names():
        validate_selection(book, component, [s.name for s in SCENARIOS if s.component == component])
    scenarios = select(args.selector)
    if args.seed is not None and args.seed < 0:
        raise InvalidConfig("must be a non-negative integer", field="--seed")
    args.repeat = options.repeat_count(args.repeat, "--repeat")
    if args.probe_interval is not None:
        options.probe_interval_ms(args.probe_interval, "--probe-interval")
    scenarios = _on_platform(scenarios, args.platform, explicit=bool(args.selector))
    if args.platform == "kind":
        options.image_overrides(args.image, args.platform)  # bad keys or stack.yaml: named here
        options.check_prerequisites(args.platform, [s.component for s in scenarios], "--platform")
        return scenarios
    if args.image or args.keep_cluster:
        raise InvalidConfig("--image and --keep-cluster are for the kind platform", field="--platform",
                            fix="add --platform kind, or leave them out")
    options.check_prerequisites(args.platform, [s.component for s in scenarios], "--platform")
    from .platforms.local_host import Names, local_platform_in_use

    try:
        names = Names(args.instance)
    except InvalidConfig as exc:
        raise InvalidConfig(f"{args.instance!r} is not 0-3 lowercase letters or digits", field="--instance",
                            fix="e.g. --instance b2") from exc
    if args.subnet is not None:
        from .platforms.local import parse_subnet

        parse_subnet(args.subnet, "--subnet")
    if local_platform_in_use(names):
        raise InvalidConfig("another chaos run is using the local platform on this host", field="--platform",
                            fix="wait for it to finish (or stop it and run `chaos heal`), or run beside it with "
                                "--instance NAME --subnet CIDR --state-dir DIR")
    return scenarios


def cmd_run(args) -> int:
    import pytest

    from .ledger import new_run_id
    from .results import load_results

    scenarios = _validate_run(args)
    report_dir = Path(args.report_dir or os.path.join("reports", new_run_id()))
    print(f"chaos: running {len(scenarios)} experiment(s) on the {args.platform} platform: "
          f"{', '.join(s.key for s in scenarios)}", flush=True)
    pytest_args = [str(EXPERIMENTS_DIR), "-p", "no:cacheprovider", "-s", "-q", "-rN",
                   f"--rootdir={EXPERIMENTS_DIR.parent}", "--chaos-platform", args.platform,
                   "--chaos-report-dir", str(report_dir), "--chaos-slo", args.slo]
    for s in scenarios:
        pytest_args += ["--chaos-select", s.key]
    if args.seed is not None:
        pytest_args += ["--chaos-seed", str(args.seed)]
    if args.repeat > 1:
        pytest_args += ["--chaos-repeat", str(args.repeat)]
    if args.probe_interval is not None:
        pytest_args += ["--chaos-probe-interval", str(args.probe_interval)]
    for option, value in (("--chaos-instance", args.instance), ("--chaos-subnet", args.subnet),
                          ("--chaos-state-dir", args.state_dir)):
        if value:
            pytest_args += [option, value]
    if args.platform == "kind":
        pytest_args += ["--chaos-kind-name", args.kind_name] + ["--keep-cluster"] * bool(args.keep_cluster)
        for image in args.image:
            pytest_args += ["--chaos-image", image]
    if args.junitxml:
        pytest_args += ["--junitxml", args.junitxml, "-o", "junit_family=xunit1"]
    code = pytest.main(pytest_args)
    if code == pytest.ExitCode.INTERRUPTED:
        return EXIT_INTERRUPTED
    if code == pytest.ExitCode.USAGE_ERROR:
        return EXIT_INPUT
    results = load_results(report_dir) if report_dir.is_dir() else []
    print(f"chaos: results in {report_dir}")
    if results:
        from .report import write_report

        try:
            print(f"chaos: report {write_report(report_dir)}")
        except ChaosError as exc:
            _err(f"HTML report not written: {exc}")
    if len(results) < len(scenarios) * args.repeat:
        _err(f"only {len(results)} of {len(scenarios) * args.repeat} experiment runs produced a result: the harness failed "
             "(see the errors above)")
        return EXIT_HARNESS
    if all(r["verdict"] == "pass" for r in results):
        return EXIT_OK
    return EXIT_SLO


def cmd_report(args) -> int:
    from .report import write_report

    print(f"chaos: report written to {write_report(args.report_dir, history=args.history, out=args.output)}")
    return EXIT_OK


def cmd_heal(args) -> int:
    from .ledger import default_state_dir, heal_stale
    from .platforms.local_host import heal_leftovers

    state_dir = Path(args.state_dir) if args.state_dir else default_state_dir()
    done: list[str] = []
    try:
        done += heal_stale(state_dir, force=args.force, log=print)
        done += heal_leftovers(log=print, force=args.force, state_dir=state_dir, instance=args.instance)
    except HealError as exc:
        for line in done:
            print(f"healed: {line}")
        _err(str(exc))
        return EXIT_HARNESS
    for line in done:
        print(f"healed: {line}")
    print("chaos: nothing left to heal" if not done else f"chaos: healed {len(done)} item(s)")
    return EXIT_OK


def cmd_audit(args) -> int:
    """Exit 0: no violation; 1: violations; 2: bad input (a file that is not YAML, a file named that
    is not a Kubernetes manifest, no source). A directory's other YAML is skipped, said on stderr."""
    from .audit import audit_objects, format_text, live_objects, load_manifests, to_json

    if not args.paths and not args.namespace:
        raise InvalidConfig("nothing to audit", field="audit", fix="give manifest files or directories, "
                            "or --namespace NS for a live namespace")
    objects = load_manifests(args.paths, log=_err)
    if args.namespace:
        from .platforms.kube import api_client

        api, _path, _ctx = api_client(args.kubeconfig, args.context)
        try:
            objects += live_objects(api, args.namespace)
        finally:
            api.close()
    violations, checked = audit_objects(objects)
    if not checked:  # a wrong path or namespace must not pass a CI gate silently
        where = ", ".join([*args.paths, *([f"namespace {args.namespace}"] if args.namespace else [])])
        raise InvalidConfig(f"no workload (StatefulSet or Deployment) found in {where}", field="audit",
                            fix="name the manifests' files or directory, or the namespace the stack runs in")
    print(to_json(violations, checked) if args.json else format_text(violations, checked))
    return EXIT_SLO if violations else EXIT_OK


def cmd_doctor(args) -> int:
    from .components import COMPONENTS, LOCAL_COMPONENTS, missing_on_local, prerequisites
    from .platforms.kind import kind_prerequisites, runtime_prerequisite
    from .platforms.local_host import docker_forward_note

    from .components.base import missing_module

    # The components check their own clients (psycopg, kazoo, kafka-python, redis).
    problems = missing_on_local(LOCAL_COMPONENTS) + missing_module("yaml", "PyYAML") + missing_module("kubernetes")
    for line in problems:
        print(f"MISSING  {line}")
    note = docker_forward_note()
    if note:
        print(f"NOTE     {note}")
    # The kind platform is optional here: what it lacks is said, not counted.
    kind_only = sorted(set(COMPONENTS) - set(LOCAL_COMPONENTS))
    for line in kind_prerequisites() + runtime_prerequisite() + [m for c in kind_only for m in prerequisites(c)]:
        print(f"KIND     {line} (only for --platform kind)")
    if not problems:
        print("OK       root, iproute2, iptables, util-linux, PostgreSQL 15 + repmgr, ZooKeeper + Java, "
              "Elasticsearch + JDK 17, Flink (JDK, distribution, S3 plugin, s3proxy), Python modules")
        return EXIT_OK
    return EXIT_SLO


def main(argv: list[str] | None = None) -> int:
    from .pytest_plugin import DEFAULT_SLO_FILE

    parser = argparse.ArgumentParser(prog="chaos", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run experiments and print their verdicts")
    p.add_argument("selector", nargs="*", help="postgres | postgres/primary-kill | kill | postgres/kill (default: all)")
    p.add_argument("--platform", default="local", help="local (default: network namespaces on this host) or kind "
                   "(a kind cluster from kind-config.yaml, the stack from fixtures/kind/)")
    p.add_argument("--keep-cluster", action="store_true", help="kind: reuse the cluster and keep it at the end")
    p.add_argument("--kind-name", default="chaos", help="kind: the cluster's name (default chaos)")
    p.add_argument("--image", action="append", default=[], metavar="KEY=REF",
                   help="kind: use image REF for fixtures/kind/stack.yaml's KEY (repeatable)")
    p.add_argument("--report-dir", default=None, help="default: reports/<run id>")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--repeat", default="1", metavar="N",
                   help="run each experiment N times, each with its own seed derived from --seed; prints the "
                        "spread (median, p95, min, max) and writes it to distribution.json")
    p.add_argument("--instance", default="", metavar="NAME",
                   help="local: another instance of the platform (0-3 letters or digits: its own namespaces and "
                        "bridge), to run beside the default one; give it its own --subnet and --state-dir")
    p.add_argument("--subnet", default=None, help="local: the bridge's subnet (default 10.213.0.0/24)")
    p.add_argument("--state-dir", default=None, help="ledger and run data (default /var/lib/chaos-harness)")
    p.add_argument("--probe-interval", default=None, metavar="MS",
                   help="each probe worker starts an operation every MS milliseconds (5-10000; default 20)")
    p.add_argument("--slo", default=str(DEFAULT_SLO_FILE), help="SLO file (default experiments/slo.yaml)")
    p.add_argument("--junitxml", default=None, help="also write JUnit XML here")
    p.set_defaults(fn=cmd_run)
    p = sub.add_parser("list", help="list experiments and their SLOs")
    p.add_argument("selector", nargs="*")
    p.add_argument("--slo", default=str(DEFAULT_SLO_FILE))
    p.set_defaults(fn=cmd_list)
    p = sub.add_parser("report", help="write the HTML report (matrix, timelines, trend) of a results directory")
    p.add_argument("report_dir", help="a run's --report-dir")
    p.add_argument("--history", action="append", default=[], metavar="DIR",
                   help="an earlier run's report dir, for the trend; repeat, oldest first")
    p.add_argument("-o", "--output", default=None, help="default: REPORT_DIR/report.html")
    p.set_defaults(fn=cmd_report)
    p = sub.add_parser("heal", help="undo what crashed runs left behind (rules, links, namespaces, processes)")
    p.add_argument("--force", action="store_true", help="also heal runs whose process still runs")
    p.add_argument("--state-dir", default=None, help="ledger directory (default /var/lib/chaos-harness)")
    p.add_argument("--instance", default="", help="local platform instance to sweep (default: the default one)")
    p.set_defaults(fn=cmd_heal)
    p = sub.add_parser("audit", help="check manifests or a live namespace against the high-availability posture")
    p.add_argument("paths", nargs="*", help="manifest files or directories (*.yaml, *.yml)")
    p.add_argument("--namespace", default=None, help="also audit this namespace of a live cluster (read only)")
    p.add_argument("--kubeconfig", default=None, help="default $KUBECONFIG, then ~/.kube/config")
    p.add_argument("--context", default=None, help="default: the kubeconfig's current context")
    p.add_argument("--json", action="store_true", help="JSON for CI instead of text")
    p.set_defaults(fn=cmd_audit)
    p = sub.add_parser("doctor", help="name each missing prerequisite with its fix")
    p.set_defaults(fn=cmd_doctor)
    args = parser.parse_args(argv)
    try:
        code = args.fn(args)
        sys.stdout.flush()  # inside the try: a closed pipe shows here, not at exit
        return code
    except InvalidConfig as exc:
        _err(f"invalid input: {exc}")
        return EXIT_INPUT
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `chaos list | head`: the reader has gone; end as a pipe's writer does, quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except ChaosError as exc:
        _err(f"harness error: {exc}")
        return EXIT_HARNESS


if __name__ == "__main__":
    sys.exit(main())
