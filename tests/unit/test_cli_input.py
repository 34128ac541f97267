"""Bad input on the command line is the user's error: exit status 2, a message naming what to
change, and nothing created or injected."""

from __future__ import annotations

import pytest

from chaos import cli
from chaos.platforms import local

GOOD_SLO = """\
schema: 1
components:
  postgres:
    defaults:
      max_unavailability_s: 30
"""


@pytest.fixture(autouse=True)
def nothing_may_start(monkeypatch):
    """Fail the test if a run gets past validation: no platform, no experiment session."""

    def platform_up(self):
        raise AssertionError("a platform was created on bad input")

    def pytest_main(*args, **kwargs):
        raise AssertionError(f"experiments were started on bad input: {args}")

    monkeypatch.setattr(local.LocalPlatform, "up", platform_up)
    monkeypatch.setattr(pytest, "main", pytest_main)


def write(tmp_path, text: str) -> str:
    path = tmp_path / "slo.yaml"
    path.write_text(text)
    return str(path)


def test_unknown_selector_exits_2_naming_it(capsys):
    assert cli.main(["run", "postgres/no-such-thing"]) == cli.EXIT_INPUT
    err = capsys.readouterr().err
    assert "'postgres/no-such-thing'" in err
    assert "selector" in err
    assert "invalid input" in err


def test_unknown_selector_among_good_ones_exits_2(capsys):
    assert cli.main(["run", "postgres/primary-kill", "nosuch"]) == cli.EXIT_INPUT
    assert "'nosuch'" in capsys.readouterr().err


def test_malformed_slo_file_exits_2_with_field_path(tmp_path, capsys):
    slo = write(tmp_path, GOOD_SLO.replace("30", '"abc"'))
    assert cli.main(["run", "postgres", "--slo", slo]) == cli.EXIT_INPUT
    err = capsys.readouterr().err
    assert "components.postgres.defaults.max_unavailability_s" in err
    assert "'abc'" in err
    assert slo in err


def test_good_slo_file_passes_validation_so_the_bad_one_is_what_failed(tmp_path, monkeypatch, capsys):
    # The same command with a valid file gets past the SLO check and fails later, on root.
    monkeypatch.setattr(local.os, "geteuid", lambda: 1000)
    slo = write(tmp_path, GOOD_SLO)
    assert cli.main(["run", "postgres", "--slo", slo]) == cli.EXIT_INPUT
    err = capsys.readouterr().err
    assert "max_unavailability_s" not in err
    assert "root" in err


def test_missing_slo_file_exits_2(tmp_path, capsys):
    missing = str(tmp_path / "absent.yaml")
    assert cli.main(["run", "postgres", "--slo", missing]) == cli.EXIT_INPUT
    err = capsys.readouterr().err
    assert missing in err and "slo_file" in err


def test_invalid_yaml_exits_2(tmp_path, capsys):
    slo = write(tmp_path, "schema: 1\ncomponents: [unclosed\n")
    assert cli.main(["run", "postgres", "--slo", slo]) == cli.EXIT_INPUT
    assert "invalid YAML" in capsys.readouterr().err


def test_unknown_platform_exits_2(capsys):
    assert cli.main(["run", "postgres", "--platform", "kubernetes"]) == cli.EXIT_INPUT
    err = capsys.readouterr().err
    assert "'kubernetes'" in err
    assert "--platform" in err
    assert "local" in err  # the fix names the platforms there are


def test_negative_seed_exits_2(capsys):
    assert cli.main(["run", "postgres", "--seed", "-1"]) == cli.EXIT_INPUT
    assert "--seed" in capsys.readouterr().err


def test_non_integer_seed_is_a_usage_error_with_status_2(capsys):
    # argparse exits with 2 itself rather than returning it.
    with pytest.raises(SystemExit) as info:
        cli.main(["run", "postgres", "--seed", "abc"])
    assert info.value.code == 2
    assert "--seed" in capsys.readouterr().err


def test_missing_root_exits_2_and_says_root(monkeypatch, capsys):
    monkeypatch.setattr(local.os, "geteuid", lambda: 1000)
    assert cli.main(["run", "postgres"]) == cli.EXIT_INPUT
    err = capsys.readouterr().err
    assert "root" in err
    assert "chaos doctor" in err


def test_list_exits_0_and_lists_experiments(capsys):
    assert cli.main(["list"]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "postgres/primary-kill" in out
    assert "postgres/negative-async-partition" in out and "[negative control]" in out
    assert "max_unavailability_s=" in out


def test_list_with_selector_lists_only_those(capsys):
    assert cli.main(["list", "kill"]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "postgres/primary-kill" in out and "postgres/standby-kill" in out
    assert "postgres/primary-node-drain" not in out


def test_list_with_unknown_selector_exits_2(capsys):
    assert cli.main(["list", "nosuch"]) == cli.EXIT_INPUT
    assert "'nosuch'" in capsys.readouterr().err


def test_list_with_malformed_slo_exits_2(tmp_path, capsys):
    slo = write(tmp_path, GOOD_SLO.replace("max_unavailability_s", "max_unavailabilty_s"))
    assert cli.main(["list", "--slo", slo]) == cli.EXIT_INPUT
    err = capsys.readouterr().err
    assert "components.postgres.defaults.max_unavailabilty_s" in err
    assert "did you mean 'max_unavailability_s'" in err


def test_experiments_on_the_kube_platform_are_refused_until_the_stack_deploys_there(capsys):
    assert cli.main(["run", "--platform", "kube", "postgres"]) == cli.EXIT_INPUT
    err = capsys.readouterr().err
    assert "--platform" in err and "local platform" in err


def test_a_kind_only_component_on_the_local_platform_exits_2_naming_the_platform(capsys):
    assert cli.main(["run", "clickhouse"]) == cli.EXIT_INPUT
    err = capsys.readouterr().err
    assert "clickhouse cannot be deployed on the local platform" in err and "--platform kind" in err


def test_a_kind_only_component_among_local_ones_exits_2_naming_it(capsys):
    assert cli.main(["run", "postgres", "minio"]) == cli.EXIT_INPUT
    err = capsys.readouterr().err
    assert "minio cannot be deployed on the local platform" in err and "selector" in err


def test_kind_run_with_an_unknown_image_key_exits_2_naming_the_known_keys(capsys):
    assert cli.main(["run", "--platform", "kind", "--image", "nope=x:1", "elasticsearch"]) == cli.EXIT_INPUT
    err = capsys.readouterr().err
    assert "'nope'" in err and "postgres-repmgr" in err and "flink" in err


def test_kind_options_without_the_kind_platform_exit_2(capsys):
    assert cli.main(["run", "--keep-cluster", "postgres"]) == cli.EXIT_INPUT
    assert "--platform kind" in capsys.readouterr().err


def test_kind_run_names_what_the_machine_lacks_before_anything(monkeypatch, capsys):
    from chaos.platforms import kind

    monkeypatch.setattr(kind.shutil, "which", lambda name: None)
    assert cli.main(["run", "--platform", "kind", "redis"]) == cli.EXIT_INPUT
    err = capsys.readouterr().err
    assert "the `kind` binary" in err and "docker" in err


@pytest.mark.parametrize("command", ["run", "list"])
def test_a_misspelt_selector_exits_2_with_the_closest_one(command, capsys):
    assert cli.main([command, "postgres/primary-kil"]) == cli.EXIT_INPUT
    err = capsys.readouterr().err
    assert err.splitlines() == ["chaos: invalid input: selector: 'postgres/primary-kil' matches no experiment; "
                                "did you mean 'postgres/primary-kill'? (fix: `chaos list` with no selector shows "
                                "every experiment)"]


def test_chaos_run_and_the_pytest_plugin_validate_with_the_same_functions(monkeypatch, capsys):
    """The platform and the image overrides are checked by chaos.options for both entry points, so
    the two can never disagree on what is valid."""
    from chaos import options, pytest_plugin
    from chaos.errors import InvalidConfig

    calls = []

    def recording(name):
        def check(*args):
            calls.append((name, *args))
            raise InvalidConfig("stopped by the test", field=name)
        return check

    class Config:
        """Just enough of pytest.Config for pytest_configure."""

        def __init__(self, **opts):
            self.opts = {"chaos_seed": None, "chaos_slo": str(pytest_plugin.DEFAULT_SLO_FILE), "chaos_select": [],
                         "chaos_image": [], "chaos_repeat": "1", "chaos_probe_interval": None, **opts}
            self.stash = {}

        def getoption(self, name):
            return self.opts[name]

        def addinivalue_line(self, *args):
            pass

    check_platform = options.check_platform
    monkeypatch.setattr(options, "check_platform", recording("check_platform"))
    assert cli.main(["run", "--platform", "nowhere", "postgres"]) == cli.EXIT_INPUT
    with pytest.raises(pytest.UsageError, match="stopped by the test"):
        pytest_plugin.pytest_configure(Config(chaos_platform="nowhere"))
    assert calls == [("check_platform", "nowhere", "--platform"), ("check_platform", "nowhere", "--chaos-platform")]

    monkeypatch.setattr(options, "check_platform", check_platform)  # not undo(): the guards above stay
    calls.clear()
    monkeypatch.setattr(options, "image_overrides", recording("image_overrides"))
    assert cli.main(["run", "--platform", "kind", "--image", "redis=redis:7", "redis"]) == cli.EXIT_INPUT
    with pytest.raises(pytest.UsageError, match="stopped by the test"):
        pytest_plugin.pytest_configure(Config(chaos_platform="kind", chaos_image=["redis=redis:7"]))
    assert calls == [("image_overrides", ["redis=redis:7"], "kind")] * 2

    calls.clear()
    monkeypatch.setattr(options, "repeat_count", recording("repeat_count"))
    assert cli.main(["run", "--repeat", "3", "postgres"]) == cli.EXIT_INPUT
    with pytest.raises(pytest.UsageError, match="stopped by the test"):
        pytest_plugin.pytest_configure(Config(chaos_platform="local", chaos_repeat="3"))
    assert calls == [("repeat_count", "3", "--repeat"), ("repeat_count", "3", "--chaos-repeat")]

    monkeypatch.setattr(options, "repeat_count", lambda value, option: int(value))
    calls.clear()
    monkeypatch.setattr(options, "probe_interval_ms", recording("probe_interval_ms"))
    assert cli.main(["run", "--probe-interval", "100", "postgres"]) == cli.EXIT_INPUT
    with pytest.raises(pytest.UsageError, match="stopped by the test"):
        pytest_plugin.pytest_configure(Config(chaos_platform="local", chaos_probe_interval="100"))
    assert calls == [("probe_interval_ms", "100", "--probe-interval"),
                     ("probe_interval_ms", "100", "--chaos-probe-interval")]
    assert "stopped by the test" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["4", "10001", "0.5", "20ms", "-20", ""])
def test_a_probe_interval_outside_5_to_10000_ms_is_named(value):
    from chaos import options
    from chaos.errors import InvalidConfig

    with pytest.raises(InvalidConfig) as err:
        options.probe_interval_ms(value, "--probe-interval")
    assert err.value.field == "--probe-interval"
    assert options.probe_interval_ms("20", "--probe-interval") == 0.02


@pytest.mark.parametrize("value", ["0", "-2", "x", "1.5", "101"])
def test_a_bad_repeat_count_exits_2_naming_the_option(value, capsys):
    assert cli.main(["run", "postgres", "--repeat", value]) == cli.EXIT_INPUT
    err = capsys.readouterr().err
    assert "--repeat" in err and "whole number from 1 to 100" in err


@pytest.mark.parametrize("args, option", [(["--instance", "TOOLONG"], "--instance"),
                                          (["--subnet", "10.9.0.0/28"], "--subnet"),
                                          (["--subnet", "not-a-net"], "--subnet")])
def test_a_bad_instance_or_subnet_exits_2_naming_the_option(args, option, capsys):
    assert cli.main(["run", "postgres", *args]) == cli.EXIT_INPUT
    err = capsys.readouterr().err
    assert f"{option}:" in err, err


def test_an_instance_subnet_and_state_dir_reach_the_pytest_run(monkeypatch):
    import pytest as real_pytest

    seen = {}
    def validated(args):
        args.repeat = 1
        return []

    monkeypatch.setattr(cli, "_validate_run", validated)
    monkeypatch.setattr(real_pytest, "main", lambda argv: seen.setdefault("argv", argv) and 5)
    cli.main(["run", "postgres", "--instance", "b2", "--subnet", "10.240.0.0/24", "--state-dir", "/tmp/st",
              "--report-dir", "/tmp/chaos-cli-test-report"])
    argv = seen["argv"]
    for option, value in (("--chaos-instance", "b2"), ("--chaos-subnet", "10.240.0.0/24"),
                          ("--chaos-state-dir", "/tmp/st")):
        assert argv[argv.index(option) + 1] == value
