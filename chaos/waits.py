"""Waiting without sleeping blindly: poll a condition until it holds or a deadline passes."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

__all__ = ["poll_until", "retry_until", "value_within"]

T = TypeVar("T")


def poll_until(condition: Callable[[], bool], timeout_s: float, poll_s: float = 0.1) -> bool:
    """True as soon as condition() holds; False if it still does not at the deadline (the
    condition is asked once more at the deadline, so a zero timeout still checks once)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll_s)
    return condition()


def retry_until(attempt: Callable[[], T], timeout_s: float, poll_s: float = 0.5) -> T:
    """attempt()'s result as soon as it returns without raising; on the deadline a TimeoutError
    naming the last exception (kept as the cause)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return attempt()
        except Exception as exc:
            if time.monotonic() + poll_s > deadline:
                raise TimeoutError(f"gave up after {timeout_s:.0f} s: {exc}") from exc
        time.sleep(poll_s)


def value_within(get: Callable[[], T | None], timeout_s: float, poll_s: float = 0.1) -> T | None:
    """get()'s first value that is not None, asked until the deadline (and once at it); None if
    there was none."""
    found: list[T] = []

    def holds() -> bool:
        value = get()
        if value is not None:
            found.append(value)
        return value is not None

    return found[0] if poll_until(holds, timeout_s, poll_s) else None
