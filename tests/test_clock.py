"""`iso` is a hot path (nine per task read), so it formats by hand: it must say what datetime says."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import example, given, settings
from hypothesis import strategies as st

from taskloom.clock import iso


def reference(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@given(
    st.floats(min_value=-2e9, max_value=2.5e11, allow_nan=False)
    | st.integers(0, 4_000_000_000).map(lambda s: s + 0.9995)
    | st.integers(0, 4_000_000_000).map(lambda s: s + 0.9999995)
    | st.integers(0, 4_000_000_000)
)
@example(1_800_000_000.0005)
@example(1_000_000_000.9999995)
@example(-0.0004)
@example(0)
@settings(max_examples=2000, deadline=None)
def test_iso_renders_every_timestamp_as_datetime_does_with_z_for_utc(ts):
    assert iso(ts) == reference(ts)


def test_iso_of_nothing_is_nothing():
    assert iso(None) is None
