"""The benchmark suite (benchmarks/run.py) runs end to end at its small size.

A smoke test of the harness, not of speed: it checks that every figure was measured for
both packages (a query count and a positive median), that django-notify's unread count
is one query, and that the write figures created the same rows on both sides (DN with an
INSERT per row, django-notify with a fixed few statements). No timing is asserted. Runs
in the ``bench`` tox env (``pytest -m bench``); it creates the benchmark virtualenvs
(PyPI) on first use.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.run import pg_answers

pytestmark = pytest.mark.bench

ROOT = Path(__file__).resolve().parents[2]
FIGURES = (
    "unread_count",
    "feed_rows",
    "feed_related",
    "unread_count_view",
    "unread_list_view",
    "mark_all_read",
)
#: The write figures and the sides that measure them (DN has no events; the floor is
#: SQL on django-notify's table).
WRITE_FIGURES = {
    "fanout_notify": ("notify", "dn"),
    "fanout_notify_atomic": ("notify", "dn"),
    "fanout_floor": ("notify",),
    "fanout_emit": ("notify",),
}


def test_small_benchmark_run(tmp_path):
    dbs = ["sqlite"]
    if pg_answers():
        dbs.append("postgres")
    elif os.environ.get("NOTIFY_REQUIRE_SERVICES") == "1":
        pytest.fail("NOTIFY_REQUIRE_SERVICES=1 but PostgreSQL does not answer")
    # The run's own subprocesses pick their settings; never hand them ours.
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    cmd = [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--size", "small"]
    cmd += ["--rounds", "1", "--db", ",".join(dbs), "--out", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"

    report = json.loads((tmp_path / "small.json").read_text())
    assert report["databases"] == [db for db in ("postgres", "sqlite") if db in dbs]
    assert not report["failures"]
    measured = [(name, side) for name in FIGURES for side in ("notify", "dn")]
    measured += [(name, side) for name, sides in WRITE_FIGURES.items() for side in sides]
    for name, side in measured:
        for db in dbs:
            cell = report["figures"][name][db][side]
            where = f"{name} on {db} for {side}"
            assert cell["error"] is None, f"{where}: {cell['error']}"
            assert isinstance(cell["queries"], int), where
            assert cell["queries"] >= 1, where
            assert cell["median_ms"] > 0, where
            assert cell["repetitions"] > 0, where
    for db in dbs:
        assert report["figures"]["unread_count"][db]["notify"]["queries"] == 1, db
    # Both packages did the same work on the same data.
    for name in ("unread_count", "feed_rows", "mark_all_read"):
        for db in dbs:
            cells = report["figures"][name][db]
            assert cells["notify"]["result"] == cells["dn"]["result"], (name, db)
    # The writes: every call created the audience's rows (and, for django-notify, an
    # email delivery each); DN pays one INSERT per row, django-notify a fixed few
    # statements whatever the audience (transaction statements included).
    fans = report["dataset"]["fanout"]
    rows = {"notifications": fans}
    planned = {**rows, "deliveries": fans}
    for db in dbs:
        cells = report["figures"]
        for name in ("fanout_notify", "fanout_notify_atomic"):
            assert cells[name][db]["dn"]["result"] == fans, (name, db)
            assert cells[name][db]["dn"]["created"] == rows, (name, db)
            # An INSERT per row after reading the users, and the transaction statements.
            assert cells[name][db]["dn"]["queries"] > fans, (name, db)
            assert cells[name][db]["notify"]["result"] == fans, (name, db)
            assert cells[name][db]["notify"]["created"] == planned, (name, db)
            assert cells[name][db]["notify"]["queries"] <= 20, (name, db)
        assert cells["fanout_floor"][db]["notify"]["result"] == fans, db
        assert cells["fanout_floor"][db]["notify"]["created"] == rows, db
        assert cells["fanout_floor"][db]["notify"]["queries"] == 1, db
        emitted = cells["fanout_emit"][db]["notify"]
        assert emitted["result"] == fans, db
        assert emitted["created"] == {**planned, "events": 1}, db
        assert emitted["queries"] <= 40, db
    # The large event (PostgreSQL): one call per round in a fresh worker, every
    # subscriber a row and an email delivery, its statements and peak memory recorded.
    if "postgres" in dbs:
        audience = report["event_dataset"]["subscriptions"]
        assert audience == 2_000
        event = report["event_figures"]["event_audience"]["postgres"]["notify"]
        assert event["error"] is None, event["error"]
        assert event["result"] == audience
        assert event["created"] == {"notifications": audience, "deliveries": audience, "events": 1}
        assert 1 <= event["queries"] <= 40
        assert event["peak_rss_mb"] >= event["start_rss_mb"] > 0
        floor = report["event_figures"]["event_floor"]["postgres"]["notify"]
        assert floor["error"] is None, floor["error"]
        assert floor["result"] == audience  # the deliveries; one notification each
        assert floor["created"] == {"notifications": audience, "deliveries": audience}
        assert floor["queries"] == 1
    # One table row per read figure and per write figure (the floor is a column), and
    # the large event's two on PostgreSQL (the event and its floor).
    table_rows = len(FIGURES) + len(WRITE_FIGURES) - 1 + 2 * ("postgres" in dbs)
    assert (tmp_path / "small.md").read_text().count("| `") == table_rows


def test_rounds_alternate_which_package_goes_first():
    """Odd rounds measure django-notify first on each database, even rounds DN, so a
    machine whose speed drifts during the run weighs on both alike; the figures only
    django-notify has keep their place."""
    from benchmarks.run import _round_order

    jobs = [(db, side, "main") for db in ("postgres", "sqlite") for side in ("notify", "dn")]
    jobs += [("postgres", "notify", "million"), ("postgres", "notify", "event")]
    assert _round_order(jobs, 1) == jobs == _round_order(jobs, 3)
    assert _round_order(jobs, 2) == [
        ("postgres", "dn", "main"), ("postgres", "notify", "main"),
        ("sqlite", "dn", "main"), ("sqlite", "notify", "main"),
        ("postgres", "notify", "million"), ("postgres", "notify", "event"),
    ]  # fmt: skip
