"""Time as a person reads it: durations in s, min, h or d, and chart buckets sized to the data.

Rules:

* :func:`duration_unit` picks the largest unit in which the value is at least 1 (seconds below a
  minute, minutes below an hour, hours below two days, days above), so a two-minute demo reads
  "2.1 min", never "0.035 h".
* :func:`bucket_for` picks the bucket of a time chart from the data's span: the smallest step of
  :data:`BUCKETS` that gives at most :data:`MAX_BUCKETS` points, so two minutes of data are
  ~24 points of 5 s, a day is 96 points of 15 min, a month is 30 days. The SQL buckets by that
  many seconds (``toStartOfInterval``), the same for the report and the console.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

MAX_BUCKETS = 120
UNITS: tuple[tuple[str, float], ...] = (("s", 1.0), ("min", 60.0), ("h", 3600.0), ("d", 86400.0))
DAY_FROM_S = 2 * 86400.0


@dataclass(frozen=True)
class Bucket:
    """A time-bucket width: its length in seconds and how a person names it."""

    seconds: int
    label: str


BUCKETS: tuple[Bucket, ...] = (
    Bucket(1, "1 s"),
    Bucket(5, "5 s"),
    Bucket(10, "10 s"),
    Bucket(30, "30 s"),
    Bucket(60, "1 min"),
    Bucket(300, "5 min"),
    Bucket(900, "15 min"),
    Bucket(3600, "1 h"),
    Bucket(6 * 3600, "6 h"),
    Bucket(86400, "1 day"),
    Bucket(7 * 86400, "7 days"),
)


def bucket_for(span_s: float, max_buckets: int = MAX_BUCKETS) -> Bucket:
    """The smallest bucket giving at most ``max_buckets`` points over ``span_s`` seconds."""
    for bucket in BUCKETS:
        if span_s / bucket.seconds <= max_buckets:
            return bucket
    return BUCKETS[-1]


def span_seconds(times: Iterable[datetime]) -> float:
    """Seconds from the first to the last of ``times`` (0 for fewer than two)."""
    ordered = sorted(times)
    return (ordered[-1] - ordered[0]).total_seconds() if len(ordered) > 1 else 0.0


def duration_unit(values_s: Sequence[float]) -> tuple[str, float]:
    """The unit (name, seconds) a person reads ``values_s`` in: the largest value decides."""
    largest = max((abs(v) for v in values_s), default=0.0)
    if largest >= DAY_FROM_S:
        return UNITS[3]
    for name, size in reversed(UNITS[:3]):
        if largest >= size:
            return name, size
    return UNITS[0]


def duration_text(seconds: float) -> str:
    """One duration as a person reads it: "42 s", "3.5 min", "2.1 h", "3.0 d"."""
    name, size = duration_unit([seconds])
    value = seconds / size
    return f"{value:.0f} {name}" if name == "s" else f"{value:.1f} {name}"
