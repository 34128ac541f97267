"""Host-wide pieces of the local platform: the names of an instance's namespaces, veths and
bridge, the raw namespace and iptables helpers, the undo actions its ledger records (run by the
run itself or by `chaos heal`), the host-wide lock and the sweep for leftovers no ledger accounts
for. chaos.platforms.local builds nodes, pods and faults on them."""

from __future__ import annotations

import fcntl
import os
import re
import shlex
import shutil
import signal
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .._run import run, run_ok
from ..errors import InvalidConfig, PlatformError
from ..ledger import default_state_dir, undo_action
from ..waits import poll_until

NETNS_PREFIX = "chaos-"
REQUIRED_BINARIES = {"ip": "apt-get install iproute2", "iptables": "apt-get install iptables",
                     "iptables-save": "apt-get install iptables", "setpriv": "apt-get install util-linux"}


@dataclass(frozen=True)
class Names:
    """Host-wide names of one platform instance. The default instance ("") uses chaos-a1,
    cz-a1 and chaosbr0; another instance (e.g. the harness's own heal test) gets its own."""

    instance: str = ""

    def __post_init__(self):
        if not re.fullmatch(r"[a-z0-9]{0,3}", self.instance):
            raise InvalidConfig(f"{self.instance!r} is not 0-3 lowercase letters or digits", field="instance")

    @property
    def bridge(self) -> str:
        return f"chaosbr{self.instance or '0'}"

    @property
    def lock(self) -> str:
        return f"local{'-' + self.instance if self.instance else ''}.lock"

    def netns(self, zone: str, n: int) -> str:
        return f"{NETNS_PREFIX}{self.instance}{zone}{n}"

    def is_netns(self, name: str) -> bool:
        return re.fullmatch(rf"{NETNS_PREFIX}{self.instance}[a-z]\d+", name) is not None

    def is_veth(self, dev: str) -> bool:
        return re.fullmatch(rf"cz{self.instance}-[a-z]\d+", dev) is not None

def check_prerequisites() -> list[str]:
    """What is missing to run the local platform, each with its fix (empty when all is there)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root privileges: the local platform creates network namespaces and "
                       "iptables rules (fix: run as root, e.g. `sudo chaos run ...`)")
    for binary, fix in REQUIRED_BINARIES.items():
        if shutil.which(binary) is None:
            missing.append(f"{binary} not found (fix: {fix})")
    return missing


def _prune_logs(logs: Path, keep: int) -> None:
    """Drop the pod logs of all but the `keep` most recent runs (run ids sort by time)."""
    if logs.is_dir():
        for old in sorted(p for p in logs.iterdir() if p.is_dir())[:-keep]:
            shutil.rmtree(old, ignore_errors=True)


def _netns_pids(netns: str) -> list[int]:
    proc = run(["ip", "netns", "pids", netns], check=False)
    return [int(p) for p in proc.stdout.split()] if proc.returncode == 0 else []


def _kill_netns(netns: str, sig: int = signal.SIGKILL, wait_s: float = 5.0) -> list[int]:
    """Signal every process in the namespace; with SIGKILL, until none is left (at most wait_s).

    A process can fork between the listing and its own kill (a fencer's `timeout ... bash -c`),
    so a SIGKILL is sent again to whatever is still listed until nothing is: signalling one
    listing would leave such a child behind, hung on a partitioned connect."""
    signalled: list[int] = []

    def signal_listed() -> bool:
        pids = _netns_pids(netns)
        for pid in pids:
            if pid not in signalled:
                signalled.append(pid)
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        return not pids

    if sig == signal.SIGKILL:
        poll_until(signal_listed, wait_s, poll_s=0.05)
    else:
        signal_listed()
    return signalled


def _rules_with_comment(netns: str | None, comment: str) -> list[str]:
    """The `-A ...` lines of the filter table that carry exactly this comment."""
    proc = run(["iptables-save", "-t", "filter"], netns=netns, check=False)
    if proc.returncode != 0:
        return []
    rules = []
    for line in proc.stdout.splitlines():
        if line.startswith("-A ") and "--comment" in line:
            args = shlex.split(line)
            i = args.index("--comment")
            if args[i + 1] == comment:
                rules.append(line)
    return rules


def _ns_exists(netns: str) -> bool:
    return os.path.exists(f"/run/netns/{netns}")


# --- undo actions (idempotent; run by the run itself or by `chaos heal`) -----------------------

@undo_action("iptables_comment")
def _undo_iptables(args: dict[str, Any]) -> None:
    netns = args.get("netns")
    if netns and not _ns_exists(netns):
        return
    for line in _rules_with_comment(netns, args["comment"]):
        run(["iptables", "-t", "filter", "-D", *shlex.split(line)[1:]], netns=netns, check=False)
    left = _rules_with_comment(netns, args["comment"])
    if left:
        raise PlatformError(f"iptables rules still present in {netns or 'host'}: {left}")


@undo_action("link_up")
def _undo_link_up(args: dict[str, Any]) -> None:
    run(["ip", "link", "set", args["dev"], "up"], check=False)


def veth_name(netns: str) -> str:
    """The host side of a node's veth pair: chaos-a1 -> cz-a1, chaos-ha1 -> czh-a1
    (interface names are limited to 15 characters)."""
    rest = netns[len(NETNS_PREFIX):]
    return f"cz{rest[:-2]}-{rest[-2:]}" if len(rest) > 2 else f"cz-{rest}"


@undo_action("delete_netns")
def _undo_netns(args: dict[str, Any]) -> None:
    netns = args["netns"]
    if _ns_exists(netns):
        _kill_netns(netns)
        run(["ip", "netns", "delete", netns], check=False)
        if _ns_exists(netns):
            raise PlatformError(f"network namespace {netns} could not be deleted")
    # The kernel keeps a deleted namespace (and the veth into it) alive while orphaned TCP
    # sockets in it still retransmit, e.g. to a peer behind a partition; delete the pair now.
    veth = veth_name(netns)
    if run_ok(["ip", "link", "show", veth]):
        run(["ip", "link", "delete", veth], check=False)


@undo_action("delete_link")
def _undo_link(args: dict[str, Any]) -> None:
    if run_ok(["ip", "link", "show", args["dev"]]):
        run(["ip", "link", "delete", args["dev"]])


@undo_action("rmtree")
def _undo_rmtree(args: dict[str, Any]) -> None:
    shutil.rmtree(args["path"], ignore_errors=True)


@undo_action("noop")
def _undo_noop(args: dict[str, Any]) -> None:
    """In-memory state (a cordon, a stopped pod) dies with its run: nothing to undo on disk."""


def tcp_reachable(ip: str, port: int, timeout_s: float = 1.0, netns: str | None = None) -> bool:
    """True when a TCP SYN to ip:port gets an answer (accepted or refused), False on silence.

    A refusal is an answer: the host is reachable, only the port is closed. Dropped packets
    (a partition) give a timeout.
    """
    if netns is None:
        try:
            with socket.create_connection((ip, port), timeout=timeout_s):
                return True
        except ConnectionRefusedError:
            return True
        except OSError:
            return False
    script = ("import socket,sys\ntry:\n socket.create_connection((sys.argv[1],int(sys.argv[2])),"
              "timeout=float(sys.argv[3]))\nexcept ConnectionRefusedError: pass\n"
              "except OSError: sys.exit(1)\n")
    return run_ok(["python3", "-c", script, ip, str(port), str(timeout_s)], netns=netns,
                  timeout=timeout_s + 10)


LOCK_DIR_ENV = "CHAOS_LOCK_DIR"


def lock_path(names: Names) -> Path:
    """The lock a run holds while it uses an instance. Host-wide, not in the state directory:
    the namespaces, bridge and rules it guards are the host's, whatever --state-dir a run or a
    `chaos heal` was given (a heal with another state directory swept a live run's namespaces)."""
    return Path(os.environ.get(LOCK_DIR_ENV, "/run/chaos-harness")) / names.lock


def local_platform_in_use(names: Names) -> bool:
    path = lock_path(names)
    if not path.exists():
        return False
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
    return False


def heal_leftovers(*, log: Callable[[str], None] = print, force: bool = False,
                   state_dir: Path | None = None, instance: str = "") -> list[str]:
    """Remove one instance's local-platform objects that no ledger accounts for: its
    namespaces (and their processes), veths and bridge, and host rules on its bridge carrying a
    `chaos:` comment. Skipped while a run holds that instance, unless forced."""
    state_dir = Path(state_dir or default_state_dir())
    names = Names(instance)
    if local_platform_in_use(names) and not force:
        log("skipping the sweep for leftovers: a chaos run is using the local platform (use --force)")
        return []
    done = []
    for line in run(["ip", "netns", "list"], check=False).stdout.split("\n"):
        name = line.split(" ")[0].strip()
        if names.is_netns(name):
            pids = _netns_pids(name)
            _undo_netns({"netns": name})
            done.append(f"namespace {name} ({len(pids)} processes)")
    for line in run(["ip", "-br", "link"], check=False).stdout.splitlines():
        dev = line.split()[0].split("@")[0] if line.strip() else ""
        if names.is_veth(dev):
            run(["ip", "link", "delete", dev], check=False)
            done.append(f"link {dev}")
    if run_ok(["ip", "link", "show", names.bridge]):
        _undo_link({"dev": names.bridge})
        done.append(f"bridge {names.bridge}")
    comments = set()
    for line in run(["iptables-save", "-t", "filter"], check=False).stdout.splitlines():
        if line.startswith("-A ") and "--comment" in line:
            args = shlex.split(line)
            c = args[args.index("--comment") + 1]
            if c.startswith("chaos:") and names.bridge in args:
                comments.add(c)
    for c in sorted(comments):
        _undo_iptables({"netns": None, "comment": c})
        done.append(f"host rules {c}")
    return done


def docker_forward_note() -> str | None:
    """Docker sets FORWARD to DROP; with br_netfilter our bridge relies on its own ACCEPT rule."""
    out = run(["iptables", "-S", "FORWARD"], check=False).stdout if shutil.which("iptables") else ""
    if "-P FORWARD DROP" in out:
        return ("the host FORWARD policy is DROP (Docker sets it); the local platform adds its own "
                "ACCEPT rule for its bridge while it runs")
    return None
