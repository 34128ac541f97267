"""The fault contract of tests/contract (kill, graceful kill, drain with a PodDisruptionBudget,
heal on an exception and on Ctrl-C, a half-done injection healed, heal twice), run on the kind
tier's real kubelets: the same test functions, with this package's `subject` (conftest.py)."""

from tests.contract.test_fault_contract import *  # noqa: F401,F403  (collected here with the kind subject)

import pytest  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.kind]
