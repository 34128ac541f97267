"""The HTML report: one self-contained file (suite matrix, a timeline chart per experiment, the
trend across runs) built only from the results documents and timelines the experiments write.

    from chaos.report import write_report
    write_report("reports/latest", history=["reports/night-1", "reports/night-2"])

The data shaping (fault window, unavailability span, buckets, matrix, trend and regression rule)
is pure and public so it can be tested and reused; see chaos.report._data for the rule.
"""

from ._data import (
    MAX_BUCKETS,
    REGRESSION_MIN_DELTA_S,
    REGRESSION_MIN_RUNS,
    REGRESSION_RATIO,
    REGRESSION_WINDOW,
    ExperimentTrend,
    FaultWindow,
    Matrix,
    MatrixCell,
    Regression,
    Series,
    Span,
    anchor_ids,
    bucket_series,
    bucket_width,
    fault_window,
    is_regression,
    longest_outage,
    recovery_point,
    suite_matrix,
    trend,
    unavailability_span,
    worst_client,
)
from ._render import REPORT_FILE, render_report, write_report
from ._scan import TimelineSummary, summarise_events, summarise_timeline

__all__ = [
    "write_report",
    "render_report",
    "REPORT_FILE",
    "fault_window",
    "unavailability_span",
    "longest_outage",
    "worst_client",
    "recovery_point",
    "bucket_width",
    "bucket_series",
    "suite_matrix",
    "anchor_ids",
    "trend",
    "is_regression",
    "summarise_timeline",
    "summarise_events",
    "FaultWindow",
    "Span",
    "Series",
    "Matrix",
    "MatrixCell",
    "Regression",
    "ExperimentTrend",
    "TimelineSummary",
    "MAX_BUCKETS",
    "REGRESSION_RATIO",
    "REGRESSION_MIN_DELTA_S",
    "REGRESSION_MIN_RUNS",
    "REGRESSION_WINDOW",
]
