"""The pods' logs on Kubernetes as files the failover explainer can date: the kubelet's UTC date
of each line becomes the line's first stamp in local time. The API is a stand-in object here
(the kind tier reads real pods' logs)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from chaos.platforms.kube_logs import local_stamped, write_pod_logs
from chaos.predictions import LogMarkers, explain, log_time


def _utc(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc).timestamp()


def test_the_kubelets_date_comes_first_in_local_time():
    line = local_stamped("2026-12-08T00:57:28.123456789Z 1:S 08 Dec 2026 00:57:27.999 # Failover election won")
    assert log_time(line) == pytest.approx(_utc("2026-12-08T00:57:28.123456"), abs=1e-6)
    assert line.endswith(" 1:S 08 Dec 2026 00:57:27.999 # Failover election won")


@pytest.mark.parametrize("line", ["no date at all", "", "2026-12-08T00:57:28Zbroken", "notadateZ text"])
def test_lines_without_the_kubelets_date_stay_as_they_are(line):
    assert local_stamped(line) == line


class _Api:
    """read_namespaced_pod_log as the official client answers it: text, or an error for a pod
    without a previous container (or one that is gone)."""

    def __init__(self, logs):
        self.logs = logs
        self.calls = []

    def read_namespaced_pod_log(self, pod, namespace, timestamps, previous, _request_timeout):
        self.calls.append((pod, namespace, timestamps, previous))
        try:
            return self.logs[(pod, previous)]
        except KeyError:
            raise RuntimeError("(400) previous terminated container not found") from None


def test_pod_logs_are_written_previous_container_first_and_dated_by_the_explainer(tmp_path):
    api = _Api({("redis-1", True): "2026-12-08T10:00:01.000000000Z lost master\n",
                ("redis-1", False): "2026-12-08T10:00:03.500000000Z started\n",
                ("redis-4", False): "2026-12-08T10:00:02.000000000Z Failover election won\n"})
    logs = write_pod_logs(api, [("redis-1", "chaos-stack"), ("redis-4", "chaos-stack"),
                                ("gone-0", "chaos-stack")], tmp_path / "logs")
    assert sorted(logs) == ["redis-1", "redis-4"]  # a pod with no log gets no file
    assert logs["redis-1"].read_text().splitlines()[0].endswith(" lost master")
    assert all(call[2] is True for call in api.calls)  # always with the kubelet's dates
    why = explain(LogMarkers(detected=("lost master",), elected=("election won",)), logs,
                  _utc("2026-12-08T10:00:00.000000"), _utc("2026-12-08T10:00:10.000000"), measured_s=4.0)
    assert why["detection_s"] == pytest.approx(1.0) and why["election_s"] == pytest.approx(1.0)
