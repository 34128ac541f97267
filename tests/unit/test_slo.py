"""SLO model and loader: merging order, and an error naming the field for every bad input.

Files are written to tmp_path; nothing else is touched.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from chaos.errors import InvalidConfig
from chaos.slo import SLO, load_slo_file, parse_slo_document, validate_selection

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "slo.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> InvalidConfig:
    with pytest.raises(InvalidConfig) as info:
        load_slo_file(write(tmp_path, text))
    return info.value


GOOD = """
    schema: 1
    defaults: {settle_s: 3, max_unavailability_s: 40, max_recovery_s: 50}
    components:
      postgres:
        defaults: {max_unavailability_s: 20, max_lost_writes: 1}
        experiments:
          primary-kill: {max_unavailability_s: 10}
          standby-kill:
      redis:
        experiments:
          primary-kill: {allow_split_brain: true, max_recovery_s: null}
"""


def test_merge_order_dataclass_file_component_experiment(tmp_path):
    book = load_slo_file(write(tmp_path, GOOD))
    slo = book.for_experiment("postgres", "primary-kill")
    assert slo.max_unavailability_s == 10  # experiment beats component (20) and file (40)
    assert slo.max_lost_writes == 1  # component beats dataclass (0)
    assert slo.max_recovery_s == 50  # file beats dataclass (30)
    assert slo.settle_s == 3
    assert slo.max_duplicate_writes == 0  # dataclass default
    assert book.for_experiment("postgres", "standby-kill").max_unavailability_s == 20


def test_null_means_not_bounded_and_components_are_separate(tmp_path):
    book = load_slo_file(write(tmp_path, GOOD))
    redis = book.for_experiment("redis", "primary-kill")
    assert redis.max_recovery_s is None and redis.allow_split_brain is True
    assert redis.max_lost_writes == 0  # postgres' component defaults do not leak into redis


def test_unlisted_experiment_gets_defaults_and_qualified_names_work(tmp_path):
    book = load_slo_file(write(tmp_path, GOOD))
    assert book.for_experiment("postgres", "node-crash").max_unavailability_s == 20
    assert book.for_experiment("kafka", "broker-kill") == SLO(settle_s=3, max_unavailability_s=40, max_recovery_s=50)
    assert book.for_experiment("postgres", "postgres/primary-kill").max_unavailability_s == 10
    assert book.component_names() == ["postgres", "redis"]
    assert book.experiment_names("postgres") == ["primary-kill", "standby-kill"]
    assert book.experiment_names("kafka") == []


def test_to_dict_round_trips():
    slo = SLO(max_unavailability_s=None, settle_s=1.5)
    assert SLO(**slo.to_dict()) == slo
    assert slo.to_dict()["max_unavailability_s"] is None


def test_missing_file(tmp_path):
    with pytest.raises(InvalidConfig, match="does not exist") as info:
        load_slo_file(tmp_path / "nope.yaml")
    assert info.value.field == "slo_file" and "nope.yaml" in str(info.value)


def test_yaml_syntax_error_has_line_and_column(tmp_path):
    err = load_error(tmp_path, "schema: 1\ncomponents:\n  postgres: {experiments: [\n")
    assert err.field == "slo_file" and "invalid YAML" in str(err)
    assert "line 4" in str(err) and "column" in str(err)


def test_duplicate_key_is_rejected(tmp_path):
    err = load_error(tmp_path, """
        schema: 1
        components:
          postgres:
            experiments:
              primary-kill: {max_unavailability_s: 10}
              primary-kill: {max_unavailability_s: 90}
    """)
    assert "duplicate key 'primary-kill'" in str(err) and "line 7" in str(err)


@pytest.mark.parametrize("text", ["- schema: 1\n", "just a string\n", ""])
def test_wrong_top_level_type(tmp_path, text):
    err = load_error(tmp_path, text)
    assert err.field == "(top level)"
    assert "expected a mapping" in str(err)


@pytest.mark.parametrize("schema, found", [("2", "int 2"), ("'1'", "str '1'"), ("true", "bool True")])
def test_schema_must_be_1(tmp_path, schema, found):
    err = load_error(tmp_path, f"schema: {schema}\n")
    assert err.field == "schema"
    assert f"expected 1, found {found}" in str(err)


def test_missing_schema(tmp_path):
    err = load_error(tmp_path, "components: {}\n")
    assert err.field == "schema" and "missing" in str(err)


CASES = [
    # (yaml, field path, words in the message)
    ("schema: 1\ndefaultz: {}\n", "defaultz", "did you mean 'defaults'"),
    ("schema: 1\ndefaults: {max_unavailabilty_s: 3}\n", "defaults.max_unavailabilty_s",
     "did you mean 'max_unavailability_s'"),
    ("schema: 1\ncomponents: {postgres: {experiment: {}}}\n", "components.postgres.experiment",
     "did you mean 'experiments'"),
    ("schema: 1\ncomponents: {postgres: {experiments: {primary-kill: {max_unavailability_s: -1}}}}\n",
     "components.postgres.experiments.primary-kill.max_unavailability_s", "found -1"),
    ("schema: 1\ncomponents: {postgres: {experiments: {primary-kill: {max_unavailability_s: true}}}}\n",
     "components.postgres.experiments.primary-kill.max_unavailability_s", "found bool True"),
    ("schema: 1\ncomponents: {postgres: {defaults: {max_lost_writes: true}}}\n",
     "components.postgres.defaults.max_lost_writes", "expected an integer >= 0 or null, found bool True"),
    ("schema: 1\ndefaults: {max_lost_writes: 0.5}\n", "defaults.max_lost_writes", "found float 0.5"),
    ("schema: 1\ndefaults: {max_duplicate_writes: -2}\n", "defaults.max_duplicate_writes", "found -2"),
    ("schema: 1\ndefaults: {max_recovery_s: '30s'}\n", "defaults.max_recovery_s", "found str '30s'"),
    ("schema: 1\ndefaults: {allow_split_brain: 'no'}\n", "defaults.allow_split_brain",
     "expected true or false, found str 'no'"),
    ("schema: 1\ndefaults: {allow_split_brain: 0}\n", "defaults.allow_split_brain", "found int 0"),
    ("schema: 1\ndefaults: {expect_writes_refused: null}\n", "defaults.expect_writes_refused", "found NoneType"),
    ("schema: 1\ndefaults: {settle_s: 0}\n", "defaults.settle_s", "expected a number of seconds > 0"),
    ("schema: 1\ndefaults: {settle_s: null}\n", "defaults.settle_s", "found NoneType None"),
    ("schema: 1\ndefaults: {max_unavailability_s: .nan}\n", "defaults.max_unavailability_s", "found nan"),
    ("schema: 1\ndefaults: [settle_s]\n", "defaults", "expected a mapping of SLO fields, found list"),
    ("schema: 1\ncomponents: [postgres]\n", "components", "expected a mapping"),
    ("schema: 1\ncomponents: {postgres: {experiments: {primary-kill: 30}}}\n",
     "components.postgres.experiments.primary-kill", "found int 30"),
    ("schema: 1\ncomponents: {postgres: {experiments: {1: {}}}}\n",
     "components.postgres.experiments.1", "expected string keys"),
]


@pytest.mark.parametrize("text, field, words", CASES, ids=[c[1] + ":" + c[2][:20] for c in CASES])
def test_invalid_values_name_the_field(tmp_path, text, field, words):
    err = load_error(tmp_path, text)
    assert err.field == field
    assert field in str(err)
    assert words in str(err)
    assert "slo.yaml" in str(err)  # which file to fix


def test_parse_document_without_file_has_no_source():
    with pytest.raises(InvalidConfig, match=r"^defaults.settle_s: expected") as info:
        parse_slo_document({"schema": 1, "defaults": {"settle_s": -1}})
    assert "(in " not in str(info.value)


def test_programmatic_slo_is_validated_too():
    with pytest.raises(InvalidConfig, match="max_lost_writes"):
        SLO(max_lost_writes=True)
    with pytest.raises(InvalidConfig, match="settle_s"):
        SLO(settle_s=0)


def test_validate_selection_reports_experiments_the_component_lacks(tmp_path):
    book = load_slo_file(write(tmp_path, GOOD))
    validate_selection(book, "postgres", ["primary-kill", "standby-kill", "node-crash"])
    with pytest.raises(InvalidConfig) as info:
        validate_selection(book, "postgres", ["primary-kill", "standby-kil"])
    assert info.value.field == "components.postgres.experiments.standby-kill"
    assert "did you mean 'standby-kil'" in str(info.value)


def test_shipped_slo_file_is_valid_and_has_the_postgres_suite():
    book = load_slo_file(REPO / "experiments" / "slo.yaml")
    assert set(book.experiment_names("postgres")) == {
        "primary-kill", "standby-kill", "primary-node-drain", "primary-zone-partition",
        "primary-zone-isolation", "primary-node-crash", "negative-async-partition",
        "negative-unfenced-split-brain", "negative-location-per-zone",
    }
    standby = book.for_experiment("postgres", "standby-kill")
    assert (standby.max_unavailability_s, standby.max_recovery_s) == (5, 10)
    kill = book.for_experiment("postgres", "primary-kill")
    assert kill == SLO(max_unavailability_s=30, max_recovery_s=30, max_lost_writes=0, max_duplicate_writes=0,
                       allow_split_brain=False, settle_s=2)
    assert book.for_experiment("postgres", "negative-async-partition").max_lost_writes == 0


def test_shipped_negative_control_fails_on_lost_writes():
    from chaos.checkers import judge
    from chaos.timeline import INVOKE, OK, Event

    slo = load_slo_file(REPO / "experiments" / "slo.yaml").for_experiment("postgres", "negative-async-partition")
    events = []
    for i in range(40):
        t = 0.25 * (i + 1)
        events += [Event(t - 0.01, INVOKE, "w0", "write", value=i), Event(t, OK, "w0", "write", value=i, node="pg0")]
    # Writes 30..34 were acknowledged by the old primary only; the new one never saw them.
    present = [i for i in range(40) if not 30 <= i < 35]
    v = judge(events, injected_s=7.6, healed_s=9.0, end_s=10.0, slo=slo, fault_proven=True, present=present)
    assert v.verdict == "fail"
    assert v.metrics["lost_writes"] == 5
