"""The ledger: written before each change, healed newest first after a crash, never lost."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from chaos import ledger as ledger_mod
from chaos.errors import HealError
from chaos.ledger import Ledger, heal_stale, pending_undos, read_records


@pytest.fixture
def undone(monkeypatch):
    """A registered undo action `test_append` that appends its args to the returned list."""
    calls: list[dict] = []
    monkeypatch.delitem(ledger_mod.UNDO_ACTIONS, "test_append", raising=False)
    ledger_mod.undo_action("test_append")(lambda args: calls.append(dict(args)))
    yield calls
    ledger_mod.UNDO_ACTIONS.pop("test_append", None)


@pytest.fixture
def failing_undo():
    def fail(args):
        raise RuntimeError(f"cannot undo {args['n']}")

    ledger_mod.undo_action("test_fail")(fail)
    yield
    ledger_mod.UNDO_ACTIONS.pop("test_fail", None)


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def set_owner(path: Path, **changes) -> None:
    """Rewrite the owner record (the first line) of a ledger file."""
    lines = path.read_text().splitlines()
    owner = json.loads(lines[0])
    assert owner["type"] == "owner"
    owner.update(changes)
    lines[0] = json.dumps(owner)
    path.write_text("\n".join(lines) + "\n")


def records_of(path: Path, kind: str) -> list[dict]:
    return [r for r in read_records(path) if r["type"] == kind]


def test_new_ledger_writes_owner_record(tmp_path):
    led = Ledger("run1", tmp_path)
    assert led.path == tmp_path / "ledger" / "run1.jsonl"
    (owner,) = records_of(led.path, "owner")
    assert owner["pid"] == os.getpid()
    assert owner["run_id"] == "run1"
    assert owner["start"] == ledger_mod._proc_start_time(os.getpid())


def test_proc_start_time_reads_field_22_of_proc_stat():
    fields = Path(f"/proc/{os.getpid()}/stat").read_text().rsplit(")", 1)[1].split()
    # Fields after "comm)" start at field 3 (state); field 22 is starttime.
    assert ledger_mod._proc_start_time(os.getpid()) == fields[22 - 3]
    assert ledger_mod._proc_start_time(dead_pid()) is None


def test_record_writes_before_the_change_is_made(tmp_path, undone):
    led = Ledger("run1", tmp_path)
    undo = led.record("test_append", "remove rule 1", rule=1)
    # Nothing has been undone yet, but the record is already on disk for a crash to find.
    assert undone == []
    (rec,) = records_of(led.path, "undo")
    assert rec == {"type": "undo", "key": undo.key, "action": "test_append", "args": {"rule": 1},
                   "what": "remove rule 1"}
    assert pending_undos(led.path) == [undo]


def test_record_unknown_action_raises_and_writes_nothing(tmp_path):
    led = Ledger("run1", tmp_path)
    with pytest.raises(KeyError, match="no_such_action"):
        led.record("no_such_action", x=1)
    assert records_of(led.path, "undo") == []


def test_resolve_marks_done(tmp_path, undone):
    led = Ledger("run1", tmp_path)
    a = led.record("test_append", n=1)
    b = led.record("test_append", n=2)
    led.resolve(a)
    assert pending_undos(led.path) == [b]
    assert undone == []  # resolve only records; it runs nothing


def test_undo_runs_the_action_and_resolves(tmp_path, undone):
    led = Ledger("run1", tmp_path)
    a = led.record("test_append", n=1)
    led.undo(a)
    assert undone == [{"n": 1}]
    assert pending_undos(led.path) == []


def test_pending_undos_newest_first(tmp_path, undone):
    led = Ledger("run1", tmp_path)
    made = [led.record("test_append", n=i) for i in range(5)]
    led.resolve(made[2])
    assert [u.args["n"] for u in pending_undos(led.path)] == [4, 3, 1, 0]


def test_close_deletes_the_file_only_when_nothing_is_pending(tmp_path, undone):
    led = Ledger("run1", tmp_path)
    a = led.record("test_append", n=1)
    led.close()
    assert led.path.exists(), "a ledger with a pending undo must be kept for `chaos heal`"
    led.undo(a)
    led.close()
    assert not led.path.exists()


def test_heal_stale_of_dead_owner_undoes_newest_first_and_deletes(tmp_path, undone):
    led = Ledger("crashed", tmp_path)
    made = [led.record("test_append", f"change {i}", n=i) for i in range(4)]
    led.resolve(made[1])
    set_owner(led.path, pid=dead_pid())
    done = heal_stale(tmp_path, log=lambda msg: None)
    assert undone == [{"n": 3}, {"n": 2}, {"n": 0}]
    assert done == ["crashed: change 3", "crashed: change 2", "crashed: change 0"]
    assert not led.path.exists()


def test_heal_stale_treats_reused_pid_as_dead(tmp_path, undone):
    # A live pid whose start time differs from the record is a different process.
    led = Ledger("crashed", tmp_path)
    led.record("test_append", n=1)
    proc = subprocess.Popen(["sleep", "5"])
    try:
        set_owner(led.path, pid=proc.pid, start="1")
        heal_stale(tmp_path, log=lambda msg: None)
    finally:
        proc.kill()
        proc.wait()
    assert undone == [{"n": 1}]
    assert not led.path.exists()


def test_heal_stale_skips_a_live_owner_unless_forced(tmp_path, undone):
    led = Ledger("running", tmp_path)
    led.record("test_append", n=1)
    proc = subprocess.Popen(["sleep", "5"])
    try:
        start = ledger_mod._proc_start_time(proc.pid)
        assert start is not None
        set_owner(led.path, pid=proc.pid, start=start)
        logged: list[str] = []
        assert heal_stale(tmp_path, log=logged.append) == []
        assert undone == []
        assert led.path.exists()
        assert any("running" in line and "--force" in line for line in logged)

        assert heal_stale(tmp_path, force=True, log=logged.append) == ["running: test_append"]
        assert undone == [{"n": 1}]
        assert not led.path.exists()
    finally:
        proc.kill()
        proc.wait()


def test_torn_last_line_is_ignored(tmp_path, undone):
    led = Ledger("crashed", tmp_path)
    led.record("test_append", n=1)
    led.record("test_append", n=2)
    set_owner(led.path, pid=dead_pid())
    with open(led.path, "a") as fh:
        fh.write('{"type":"undo","key":3,"action":"test_app')  # the crash hit mid-write
    assert [u.args["n"] for u in pending_undos(led.path)] == [2, 1]
    heal_stale(tmp_path, log=lambda msg: None)
    assert undone == [{"n": 2}, {"n": 1}]
    assert not led.path.exists()


def test_failing_undo_raises_heal_error_but_the_others_run_and_file_is_kept(tmp_path, undone, failing_undo):
    led = Ledger("crashed", tmp_path)
    led.record("test_append", n=1)
    led.record("test_fail", "drop rule 7", n=7)
    led.record("test_append", n=3)
    set_owner(led.path, pid=dead_pid())
    with pytest.raises(HealError) as info:
        heal_stale(tmp_path, log=lambda msg: None)
    assert "drop rule 7" in str(info.value)
    assert "cannot undo 7" in str(info.value)
    assert undone == [{"n": 3}, {"n": 1}]
    assert led.path.exists()


def test_unknown_undo_action_in_file_is_a_heal_error_and_file_is_kept(tmp_path, undone):
    led = Ledger("crashed", tmp_path)
    led.record("test_append", n=1)
    set_owner(led.path, pid=dead_pid())
    with open(led.path, "a") as fh:
        fh.write(json.dumps({"type": "undo", "key": 2, "action": "gone_action", "args": {}}) + "\n")
    with pytest.raises(HealError, match="gone_action"):
        heal_stale(tmp_path, log=lambda msg: None)
    assert undone == [{"n": 1}]
    assert led.path.exists()


def test_heal_stale_without_ledger_dir_does_nothing(tmp_path):
    assert heal_stale(tmp_path / "absent", log=lambda msg: None) == []


def test_reopened_ledger_keeps_earlier_pending_undos(tmp_path, undone):
    first = Ledger("run1", tmp_path)
    first.record("test_append", n=1)
    again = Ledger("run1", tmp_path)  # the constructor keeps an existing file: reopening is supported
    again.record("test_append", n=2)
    assert sorted(u.args["n"] for u in pending_undos(again.path)) == [1, 2]


def test_heal_stale_leaves_a_ledger_this_process_has_open_and_heals_it_once_closed(tmp_path, undone):
    """Two owners in one process (a kind cluster's record beside its platform's ledger): the
    platform's start-up heal must not undo the other, which is alive; once closed with a change
    still pending it is a leftover like any other."""
    led = Ledger("open-here", tmp_path)
    led.record("test_append", "cluster", n=1)
    assert heal_stale(tmp_path, log=lambda msg: None) == []
    assert undone == []
    led.close()
    assert heal_stale(tmp_path, log=lambda msg: None) == ["open-here: cluster"]
    assert undone == [{"n": 1}]
