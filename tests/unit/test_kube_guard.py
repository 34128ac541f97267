"""The wrong-cluster guard decides from the context's name and the allow-list before it asks the
cluster anything; only a kind context is looked up for the harness's marker (tests/kube does that
against a real API server)."""

from __future__ import annotations

import pytest

from chaos.platforms.kube import ALLOW_ENV, WrongCluster, allowed_contexts, check_context


class NoAPI:
    """Any use of the API fails the test: these decisions must not need the cluster."""

    def __getattr__(self, name):
        raise AssertionError(f"the guard used the API ({name}) for a decision it can make alone")


def test_a_context_that_is_not_kind_is_refused_naming_it_and_the_way_to_allow_it(monkeypatch):
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    with pytest.raises(WrongCluster) as err:
        check_context(NoAPI(), "prod-eu-west", allowed_contexts())
    text = str(err.value)
    assert "'prod-eu-west'" in text and "not a kind cluster created by the harness" in text
    assert "--chaos-allow-context prod-eu-west" in text and f"{ALLOW_ENV}=prod-eu-west" in text
    assert err.value.field == "--chaos-kube-context"


def test_allow_list_from_the_flag_and_the_environment(monkeypatch):
    monkeypatch.setenv(ALLOW_ENV, " staging , ,qa")
    assert allowed_contexts(["lab"]) == {"lab", "staging", "qa"}
    assert check_context(NoAPI(), "staging", allowed_contexts())["accepted_by"] == "allow-list"
    with pytest.raises(WrongCluster):
        check_context(NoAPI(), "stag", allowed_contexts())  # exact names only
