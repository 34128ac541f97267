"""One place where the harness runs external commands, so every failure is wrapped with the
command, its exit status and its stderr, and the cause is kept; and where it reads a process's
state from /proc."""

from __future__ import annotations

import os
import subprocess
from typing import Mapping, Sequence

from .errors import PlatformError

__all__ = ["run", "run_ok", "proc_stat"]


def run(argv: Sequence[str], *, check: bool = True, timeout: float = 30.0, input: str | None = None,
        netns: str | None = None, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run argv (inside network namespace `netns` when given; with `env` added to the
    environment) and capture its output."""
    cmd = list(argv)
    if netns:
        cmd = ["ip", "netns", "exec", netns, *cmd]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input,
                              env={**os.environ, **env} if env else None)
    except FileNotFoundError as exc:
        raise PlatformError(f"command not found: {cmd[0]} (run `chaos doctor`)") from exc
    except subprocess.TimeoutExpired as exc:
        raise PlatformError(f"command timed out after {timeout:.0f} s: {' '.join(cmd)}") from exc
    if check and proc.returncode != 0:
        raise PlatformError(
            f"command failed with exit status {proc.returncode}: {' '.join(cmd)}: "
            f"{(proc.stderr or proc.stdout).strip()[-800:]}"
        )
    return proc


def run_ok(argv: Sequence[str], **kw) -> bool:
    """True when the command exits 0; never raises for a non-zero status."""
    try:
        return run(argv, check=False, **kw).returncode == 0
    except PlatformError:
        return False


def proc_stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first: "Z" for a process
    that exited and was not reaped yet; then ppid, pgid, ...), None when there is no such pid."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
