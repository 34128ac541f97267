"""`chaos list | head`: the reader goes away before the command has written everything. The
command must end quietly (no traceback) with the status a shell gives a writer to a closed pipe
(141). A real pipe whose read end is closed before the command starts makes that deterministic."""

from __future__ import annotations

import os
import subprocess
import sys

from chaos import cli


def test_a_closed_pipe_ends_the_command_quietly():
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone: every write fails with EPIPE
    try:
        done = subprocess.run([sys.executable, "-m", "chaos.cli", "list"], stdout=write_end,
                              stderr=subprocess.PIPE, timeout=60)
    finally:
        os.close(write_end)
    assert done.stderr.decode() == "" and done.returncode == cli.EXIT_BROKEN_PIPE == 141


def test_the_same_pipe_with_a_reader_gets_every_line():  # the control: the check above can fail
    done = subprocess.run([sys.executable, "-m", "chaos.cli", "list"], capture_output=True, timeout=60)
    assert done.returncode == cli.EXIT_OK and done.stdout.startswith(b"postgres/") and done.stderr == b""
