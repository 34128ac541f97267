"""Integration tests start real servers in network namespaces: they need root."""

import os

import pytest


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="integration tests need root (network namespaces, iptables)")
        for item in items:
            if "integration" in str(item.fspath):
                item.add_marker(skip)
