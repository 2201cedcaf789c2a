"""The floor under the call targets (bench/bounds.py): pure arithmetic, checked on cases worked by hand
and against a brute-force search over page sizes."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from bench.bounds import calls_floor, hourly_floor, looks_needed, page_size_needed


def test_a_lone_ten_minute_sweep_needs_ten_looks_with_a_one_minute_bound():
    assert looks_needed(600, 60) == 10
    assert looks_needed(59, 60) == 0
    assert calls_floor(600, 60, sweeps=1, page_size=1, own_calls=4) == 14
    assert hourly_floor(60) == 60


def test_concurrent_sweeps_share_the_pages():
    # 2 h sweeps, 1000 running, 20 per page: 120 looks x 50 pages / 1000 = 6 calls each, plus own
    assert calls_floor(7200, 60, sweeps=1000, page_size=20, own_calls=4) == 10
    assert calls_floor(7200, 60, sweeps=1000, page_size=1000, own_calls=4) == 4 + 120 / 1000


def test_no_page_size_helps_when_own_calls_already_exceed_the_limit():
    assert page_size_needed(600, 60, sweeps=1000, own_calls=6, limit=5) is None
    # 48 h at 1000 sweeps with 8 own calls and a limit of 12: 4 calls for 2880 looks -> one page per look
    assert page_size_needed(48 * 3600, 60, sweeps=1000, own_calls=8, limit=12) == 1000


@given(
    seconds=st.integers(min_value=0, max_value=3 * 24 * 3600),
    sweeps=st.integers(min_value=1, max_value=300),
    own=st.integers(min_value=0, max_value=12),
    limit=st.integers(min_value=1, max_value=40),
)
def test_the_page_size_needed_is_the_smallest_that_meets_the_limit(seconds, sweeps, own, limit):
    found = page_size_needed(seconds, 60, sweeps, own, limit)
    meets = [p for p in range(1, sweeps + 1) if calls_floor(seconds, 60, sweeps, p, own) <= limit + 1e-9]
    if found is None:
        assert meets == []
    else:
        assert meets and found == min(meets)
        assert math.isclose(
            calls_floor(seconds, 60, sweeps, found, own),
            own + looks_needed(seconds, 60) * math.ceil(sweeps / found) / sweeps,
        )
