"""The soak test at CI size: 5 000 mixed requests against gunicorn with 2 workers serving the full stack
(``python -m benchmarks.soak`` runs the 100 000-request version on demand)."""

from __future__ import annotations

from benchmarks.soak import RSS_BUDGET, soak


def test_soak_5k() -> None:
    result = soak(5_000, concurrency=4)
    assert result["unexpected"] == []
    assert result["workers_replaced"] == []
    growth = result["max_worker_rss_growth_bytes"]
    assert isinstance(growth, int)
    assert growth < RSS_BUDGET
    statuses = result["statuses"]
    assert isinstance(statuses, dict)
    assert {"page 200", "oversized 413", "error 500", "range 206", "304 304"} <= set(statuses)
