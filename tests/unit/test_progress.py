"""Live progress: plain lines when the output is not a terminal, an in-place line on one."""

import io
import time

import pytest

from chaos.progress import Progress


def test_plain_lines_when_not_a_terminal():
    out = io.StringIO()
    with Progress("kafka bring-up", stream=out, tty=False, every_s=0.1, tick_s=0.02) as p:
        p.update("waiting for 3 brokers")
        time.sleep(0.35)
    lines = out.getvalue().splitlines()
    assert lines[0] == "[chaos] kafka bring-up: started"
    assert any("(waiting for 3 brokers)" in line for line in lines[1:-1]), lines
    assert lines[-1].startswith("[chaos] kafka bring-up: done after 0.")
    assert "\r" not in out.getvalue() and "\033[" not in out.getvalue()


def test_a_terminal_gets_one_updating_line():
    out = io.StringIO()
    with Progress("fault hold", stream=out, tty=True, tick_s=0.02):
        time.sleep(0.1)
    text = out.getvalue()
    assert text.count("\r\033[K") >= 2  # redrawn in place
    assert text.endswith("fault hold: done after 0.1 s\n") or "fault hold: done after" in text.splitlines()[-1]


def test_an_exception_is_reported_and_propagates():
    out = io.StringIO()
    with pytest.raises(KeyboardInterrupt):
        with Progress("recovery wait", stream=out, tty=False, tick_s=0.01):
            raise KeyboardInterrupt
    assert "recovery wait: stopped (KeyboardInterrupt)" in out.getvalue()
