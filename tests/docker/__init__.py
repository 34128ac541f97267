"""Tests of the kind node faults (chaos.platforms.kind_nodes) against real containers standing in
for kind nodes, on a Docker daemon the session starts itself without touching host iptables."""
