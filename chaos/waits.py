"""Waiting without sleeping blindly: poll a condition until it holds or a deadline passes."""

from __future__ import annotations

import time
from typing import Callable

__all__ = ["poll_until"]


def poll_until(condition: Callable[[], bool], timeout_s: float, poll_s: float = 0.1) -> bool:
    """True as soon as condition() holds; False if it still does not at the deadline (the
    condition is asked once more at the deadline, so a zero timeout still checks once)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll_s)
    return condition()
