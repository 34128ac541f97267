"""Integration tests start real servers in network namespaces: they need root. The report's
browser test only needs Chromium, and runs without root."""

import os

import pytest

NEEDS_NO_ROOT = ("test_report_browser.py",)


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="integration tests need root (network namespaces, iptables)")
        for item in items:
            path = str(item.fspath)
            if "integration" in path and not path.endswith(NEEDS_NO_ROOT):
                item.add_marker(skip)
