"""chaos.waits: the one place the harness waits for a condition."""

import time

from chaos.waits import poll_until, value_within


def test_value_within_returns_the_first_value_that_is_not_none():
    answers = iter([None, None, 0, 7])
    assert value_within(lambda: next(answers), timeout_s=5, poll_s=0.001) == 0  # 0 is a value


def test_value_within_gives_none_at_the_deadline_and_asks_once_more_there():
    calls = []
    t0 = time.monotonic()
    assert value_within(lambda: calls.append(1), timeout_s=0.05, poll_s=0.01) is None
    assert time.monotonic() - t0 >= 0.05 and len(calls) >= 2


def test_poll_until_with_zero_timeout_still_checks_once():
    assert poll_until(lambda: True, 0) is True
    assert poll_until(lambda: False, 0) is False
