"""Live progress for long steps (bring-up, readiness waits, the fault hold, the recovery wait):
on a terminal one line that updates in place with the elapsed time; elsewhere (CI logs) plain
lines: when the step starts, every `every_s` seconds while it lasts, and when it ends."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """`with Progress("postgres bring-up"):` shows the step and how long it has taken."""

    def __init__(self, label: str, *, stream: TextIO | None = None, every_s: float = 10.0,
                 tty: bool | None = None, tick_s: float = 0.5):
        self.label = label
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.every_s = every_s
        self.tick_s = tick_s
        self.status = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0

    def elapsed_s(self) -> float:
        return time.monotonic() - self._t0

    def update(self, status: str) -> None:
        """What the step is doing now (shown on the next tick)."""
        self.status = status

    def _line(self) -> str:
        return f"[chaos] {self.label}: {self.elapsed_s():.0f} s" + (f" ({self.status})" if self.status else "")

    def _run(self) -> None:
        last_plain = 0.0
        while not self._stop.wait(self.tick_s if self.tty else min(self.tick_s * 4, self.every_s)):
            if self.tty:
                self.stream.write("\r\033[K" + self._line())
                self.stream.flush()
            elif self.elapsed_s() - last_plain >= self.every_s:
                last_plain = self.elapsed_s()
                self.stream.write(self._line() + "\n")
                self.stream.flush()

    def __enter__(self) -> "Progress":
        self._t0 = time.monotonic()
        if not self.tty:
            self.stream.write(f"[chaos] {self.label}: started\n")
            self.stream.flush()
        self._thread = threading.Thread(target=self._run, name="chaos-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        outcome = "done" if exc_type is None else f"stopped ({exc_type.__name__})"
        prefix = "\r\033[K" if self.tty else ""
        self.stream.write(f"{prefix}[chaos] {self.label}: {outcome} after {self.elapsed_s():.1f} s\n")
        self.stream.flush()

