"""Target choice is a pure, seeded function: same seed and same cluster, same victim."""

from __future__ import annotations

import random

import pytest

from chaos.components.base import Target
from chaos.errors import InjectionError
from chaos.targeting import ANY_ROLE, choose

PODS = [
    Target("pg0", "chaos-a1", "a", "primary"),
    Target("pg1", "chaos-b1", "b", "standby"),
    Target("pg2", "chaos-c1", "c", "standby"),
    Target("pg3", "chaos-a2", "a", "standby"),
    Target("pg4", "chaos-b2", "b", "witness"),
]


def test_same_seed_gives_same_choice():
    for seed in range(20):
        first = choose(PODS, "standby", random.Random(seed))
        second = choose(PODS, "standby", random.Random(seed))
        assert first == second


def test_choice_does_not_depend_on_the_order_pods_are_listed_in():
    for seed in range(20):
        shuffled = list(PODS)
        random.Random(1000 + seed).shuffle(shuffled)
        assert choose(shuffled, ANY_ROLE, random.Random(seed)) == choose(PODS, ANY_ROLE, random.Random(seed))
        assert choose(list(reversed(PODS)), "standby", random.Random(seed)) == choose(
            PODS, "standby", random.Random(seed))


def test_different_seeds_reach_every_candidate():
    # A choice stuck on one pod would pass the determinism tests; the seed must matter.
    chosen = {choose(PODS, "standby", random.Random(seed)).pod for seed in range(100)}
    assert chosen == {"pg1", "pg2", "pg3"}


def test_only_targets_with_the_wanted_role_are_chosen():
    for seed in range(50):
        assert choose(PODS, "standby", random.Random(seed)).role == "standby"
    assert choose(PODS, "primary", random.Random(0)).pod == "pg0"
    assert choose(PODS, "witness", random.Random(0)).pod == "pg4"


def test_any_role_can_choose_every_pod():
    chosen = {choose(PODS, ANY_ROLE, random.Random(seed)).pod for seed in range(200)}
    assert chosen == {t.pod for t in PODS}


def test_no_candidate_raises_naming_the_roles_seen():
    with pytest.raises(InjectionError) as info:
        choose(PODS, "leader", random.Random(0))
    message = str(info.value)
    assert "'leader'" in message
    for t in PODS:
        assert f"{t.pod}={t.role}" in message


def test_no_pods_at_all_says_so():
    with pytest.raises(InjectionError, match="no pods"):
        choose([], ANY_ROLE, random.Random(0))


def test_choose_does_not_mutate_the_input():
    pods = list(reversed(PODS))
    before = list(pods)
    choose(pods, "standby", random.Random(3))
    assert pods == before
