"""What users read (the README, the CI example, the Makefile, the command's messages and
docstrings, the experiments, the benchmarks' usage) names no internal work item such as
"issue 4": users have no such issues, so the text must say what it means instead. Nor does it
point outside the repository (../shared), which must stand alone."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
USER_FACING = sorted(
    [ROOT / "README.md", ROOT / "Makefile", ROOT / "pyproject.toml", ROOT / "kind-config.yaml",
     *(ROOT / ".ci").iterdir(), *(ROOT / "chaos").rglob("*.py"), *(ROOT / "experiments").iterdir(),
     *(ROOT / "tests" / "benchmarks").glob("*.py")])
WORK_ITEM = re.compile(r"\bissues?\s+#?\d+|\(#\d+\)", re.IGNORECASE)


def lines_where(found) -> list[str]:
    """file:line: text of every user-facing line for which found(line) is true."""
    return [f"{path.relative_to(ROOT)}:{n}: {line.strip()}" for path in USER_FACING if path.is_file()
            for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1) if found(line)]


def test_the_pattern_catches_what_the_nightly_example_used_to_say():
    assert WORK_ITEM.search("The kind platform (issues 4 and 5) will add a job")
    assert WORK_ITEM.search("Targets (issue 6): generation") and WORK_ITEM.search("fixed in (#12)")
    assert not WORK_ITEM.search("how regularly they issued operations; --service-account-issuer=x")


def test_no_internal_work_item_is_named():
    assert len(USER_FACING) > 20  # the globs found the files
    found = lines_where(WORK_ITEM.search)
    assert not found, "say what it means instead of naming a work item:\n" + "\n".join(found)


def test_nothing_points_outside_the_repository():
    found = lines_where(lambda line: "shared/" in line)
    assert not found, "the repository must stand alone:\n" + "\n".join(found)
