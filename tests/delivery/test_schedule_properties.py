"""Quiet hours and digest windows (``delivery/schedule.py``) against naive references.

The references step minute by minute in UTC and look only at the local wall clock,
which is what the rules are stated on:

    quiet_hours_end(m)  = the first minute-instant i >= m whose local wall time is not
                          quiet (scan capped at 48 h)
    boundary instants   = the minute-instants i at which the local clock first reaches a
                          boundary wall time B: hw < B <= wall(i), hw being the highest
                          reading before i. So a boundary skipped by a gap is reached at
                          the jump, and the readings a fall-back repeats reach nothing new
                          (an ambiguous boundary counts at its first occurrence only).
    digest_window(m)    = (last boundary instant <= m, first boundary instant > m)

Everything is drawn at whole minutes (moments, quiet ends, ``daily_at``) and every
transition of the sampled zones in 2020-2030 is on a whole minute (checked below), so
the minute scan is exact and equality is the right assertion.

The random tests rarely land near a transition; the ``*_across_dst`` tests draw moments
and wall times around the real transitions of the sampled zones and assert that the
examples did hit skipped and repeated wall times. Examples per random test:
``SCHEDULE_PROPS_EXAMPLES`` (default 100; the DST tests run at least 150).
"""

from __future__ import annotations

import functools
import os
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import models
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from django_notify.schedule import (
    as_zone,
    deferred_until,
    digest_window,
    in_quiet_hours,
    next_send_time,
    quiet_hours_end,
    validate_quiet_hours,
)

EXAMPLES = int(os.environ.get("SCHEDULE_PROPS_EXAMPLES", "100"))
DST_EXAMPLES = max(EXAMPLES, 150)
PROPS = settings(max_examples=EXAMPLES, deadline=None)
#: What the DST tests hit, printed at the end of the module (run with -s).
STATS: Counter = Counter()

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
PERIOD = {"hourly": HOUR, "daily": DAY, "weekly": 7 * DAY}
ZONES = [
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Sao_Paulo",  # no DST since 2019: offset changes must not be invented
    "Australia/Lord_Howe",  # 30-minute DST shift
    "Asia/Kolkata",  # +05:30, no DST
    "Pacific/Chatham",  # +12:45/+13:45, changes at 02:45 local
    "America/St_Johns",  # -03:30/-02:30
]
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(zone: ZoneInfo, *args: int, fold: int = 0) -> datetime:
    """A local reading as a UTC instant: ``==`` between zones is always False for an
    ambiguous reading (PEP 495), so the pinned tests compare UTC instants."""
    return datetime(*args, tzinfo=zone, fold=fold).astimezone(UTC)


@pytest.fixture(scope="module", autouse=True)
def _print_stats():
    yield
    if STATS:
        print("\n[schedule properties] " + ", ".join(f"{k}={v}" for k, v in sorted(STATS.items())))


# -- references ------------------------------------------------------------------------


def wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def ref_is_quiet(t: time, start: time, end: time) -> bool:
    if start < end:
        return start <= t < end
    return t >= start or t < end


def ref_quiet_hours_end(moment: datetime, start: time, end: time, zone: ZoneInfo) -> datetime:
    i = moment
    for _ in range(48 * 60 + 1):
        if not ref_is_quiet(wall(i, zone).time(), start, end):
            return i
        i += MINUTE
    raise AssertionError("reference: still quiet after 48 h")


def ref_latest_boundary(w: datetime, frequency: str, daily_at: time, weekly_on: int) -> datetime:
    """The latest boundary wall time <= the wall time ``w``."""
    if frequency == "hourly":
        return w.replace(minute=0)
    day = w.date()
    while True:
        b = datetime.combine(day, daily_at)
        if b <= w and (frequency == "daily" or day.weekday() == weekly_on):
            return b
        day -= DAY


def ref_digest_window(
    moment: datetime, frequency: str, zone: ZoneInfo, daily_at: time, weekly_on: int
) -> tuple[datetime, datetime]:
    # Windows last at most a period plus a DST shift, so this starts early enough; hw
    # starts at the first reading, which can only add a spurious boundary hours before
    # the real window start (when the scan starts in a repeated hour), never inside it.
    i = moment - PERIOD[frequency] - 3 * HOUR
    stop = moment + PERIOD[frequency] + 3 * HOUR
    hw = wall(i, zone)
    start = None
    while i < stop:
        i += MINUTE
        w = wall(i, zone)
        reached = ref_latest_boundary(w, frequency, daily_at, weekly_on) > hw
        hw = max(hw, w)
        if reached:
            if i <= moment:
                start = i
            else:
                assert start is not None, "reference: no window start found"
                return start, i
    raise AssertionError("reference: no window end found")


# -- strategies ------------------------------------------------------------------------

zone_names = st.sampled_from(ZONES)
moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31, 23, 59), timezones=st.just(UTC)
).map(lambda d: d.replace(second=0, microsecond=0))
minute_times = st.integers(0, 24 * 60 - 1).map(lambda n: time(n // 60, n % 60))
windows = st.tuples(minute_times, minute_times).filter(lambda w: w[0] != w[1])


def tz_arg(name: str, as_object: bool) -> ZoneInfo | str:
    return ZoneInfo(name) if as_object else name


@functools.cache
def transitions() -> list[tuple[str, datetime, timedelta, timedelta]]:
    """(zone, instant, offset before, offset after) for every change in 2020-2030."""
    found = []
    for name in ZONES:
        zone = ZoneInfo(name)
        day = utc(2020, 1, 1)
        before = day.astimezone(zone).utcoffset()
        while day < utc(2031, 1, 1):
            after = (day + DAY).astimezone(zone).utcoffset()
            if after != before:  # at most one change a day in these zones
                i = day
                while i.astimezone(zone).utcoffset() == before:
                    i += MINUTE
                found.append((name, i, before, after))
                before = after
            day += DAY
    return found


def near_jump(draw, name: str, instant: datetime, before: timedelta, spread: int) -> time:
    """A wall time within ``spread`` minutes of the reading where the clock jumps."""
    jump_from = wall(instant - MINUTE, ZoneInfo(name)) + MINUTE  # == instant + before
    assert jump_from == (instant + before).replace(tzinfo=None)
    return (jump_from + draw(st.integers(-spread, spread)) * MINUTE).time()


def is_ambiguous(zone: ZoneInfo, w: datetime) -> bool:
    first = w.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = w.replace(tzinfo=zone, fold=1).astimezone(UTC)
    return first != second and all(wall(x, zone) == w for x in (first, second))


# -- property tests --------------------------------------------------------------------


def check_quiet_hours_end(moment, start, end, name, as_object) -> datetime:
    zone = ZoneInfo(name)
    got = quiet_hours_end(moment, start, end, tz_arg(name, as_object))
    assert got == ref_quiet_hours_end(moment, start, end, zone)
    assert got.tzinfo is UTC
    assert in_quiet_hours(moment, start, end, tz_arg(name, as_object)) == (got != moment)
    assert not in_quiet_hours(got, start, end, zone)
    return got


@PROPS
@given(zone_names, moments, windows, st.booleans())
def test_quiet_hours_end_matches_reference(name, moment, window, as_object):
    check_quiet_hours_end(moment, *window, name, as_object)


def check_digest_window(moment, frequency, name, daily_at, weekly_on, as_object):
    zone = ZoneInfo(name)
    got = digest_window(
        moment, frequency, tz_arg(name, as_object), daily_at=daily_at, weekly_on=weekly_on
    )
    assert got == ref_digest_window(moment, frequency, zone, daily_at, weekly_on)
    start, end = got
    assert start.tzinfo is UTC and end.tzinfo is UTC
    assert start <= moment < end
    assert next_send_time(moment, frequency, zone, daily_at=daily_at, weekly_on=weekly_on) == end
    return got


@PROPS
@given(
    zone_names,
    moments,
    st.sampled_from(["hourly", "daily"]),
    minute_times,
    st.integers(0, 6),
    st.booleans(),
)
def test_digest_window_matches_reference(name, moment, frequency, daily_at, weekly_on, as_object):
    check_digest_window(moment, frequency, name, daily_at, weekly_on, as_object)


@settings(PROPS, max_examples=max(10, EXAMPLES // 5))  # the weekly reference scans 2 weeks
@given(zone_names, moments, minute_times, st.integers(0, 6))
def test_weekly_digest_window_matches_reference(name, moment, daily_at, weekly_on):
    check_digest_window(moment, "weekly", name, daily_at, weekly_on, False)


@PROPS
@given(
    zone_names,
    moments,
    st.sampled_from(["immediate", "hourly", "daily"]),
    minute_times,
    st.none() | windows,
)
def test_deferred_until_matches_reference(name, moment, frequency, daily_at, quiet):
    zone = ZoneInfo(name)
    send = moment
    if frequency != "immediate":
        send = ref_digest_window(moment, frequency, zone, daily_at, 0)[1]
    if quiet is not None:
        send = ref_quiet_hours_end(send, *quiet, zone)
    got = deferred_until(moment, frequency=frequency, tz=name, quiet=quiet, daily_at=daily_at)
    assert got == send
    assert got.tzinfo is UTC


def test_transitions_are_on_whole_minutes():
    """What makes the minute-step references exact, and the DST tests meaningful."""
    found = transitions()
    assert {name for name, *_ in found} == {
        "Europe/London",
        "Europe/Berlin",
        "America/New_York",
        "Australia/Lord_Howe",
        "Pacific/Chatham",
        "America/St_Johns",
    }
    for name, instant, before, after in found:
        assert instant.second == 0 and before % MINUTE == after % MINUTE == timedelta(0)
        assert (instant - timedelta(seconds=1)).astimezone(ZoneInfo(name)).utcoffset() == before
    assert {abs(after - before) for *_, before, after in found} == {HOUR, HOUR / 2}


def springs() -> list:
    return [t for t in transitions() if t[3] > t[2]]


def falls() -> list:
    return [t for t in transitions() if t[3] < t[2]]


def jump_readings(instant: datetime, before: timedelta, after: timedelta):
    """The reading the clock jumps from (never shown) and the one it jumps to."""
    return (instant + before).replace(tzinfo=None), (instant + after).replace(tzinfo=None)


def minutes(n: int) -> timedelta:
    return n * MINUTE


@st.composite
def dst_quiet_cases(draw):
    """(zone, transition, moment, start, end) built around a real transition.

    Each scenario is built so that the moment is quiet and quiet hours end at the place
    the scenario names; the test still classifies the result on its own.
    """
    scenario = draw(
        st.sampled_from(
            [
                "end in gap",
                "end repeated, 1st pass",
                "end repeated, 2nd pass",
                "start repeated",
                "any",
            ]
        )
    )
    event(f"scenario: {scenario}")
    if scenario == "end in gap":
        name, instant, before, after = draw(st.sampled_from(springs()))
        jump_from, jump_to = jump_readings(instant, before, after)
        shift = (after - before) // MINUTE
        end = jump_from + minutes(draw(st.integers(0, shift - 1)))
        moment = instant - minutes(draw(st.integers(1, 600)))
        start = wall(moment, ZoneInfo(name)) - minutes(draw(st.integers(0, 600)))
    elif scenario.startswith("end repeated"):
        name, instant, before, after = draw(st.sampled_from(falls()))
        jump_from, jump_to = jump_readings(instant, before, after)
        shift = (before - after) // MINUTE
        if scenario.endswith("2nd pass"):  # from the second pass, before the second `end`
            k = draw(st.integers(1, shift - 1))
            moment = instant + minutes(draw(st.integers(0, k - 1)))
        else:  # from the first pass, before the first `end`
            k = draw(st.integers(0, shift - 1))
            moment = instant + minutes(draw(st.integers(-600, k - shift - 1)))
        end = jump_to + minutes(k)
        start = wall(moment, ZoneInfo(name)) - minutes(draw(st.integers(0, 600)))
    elif scenario == "start repeated":
        # Quiet from inside the repeated hour until after it: when the clock falls back
        # it reads a time before `start`.
        name, instant, before, after = draw(st.sampled_from(falls()))
        jump_from, jump_to = jump_readings(instant, before, after)
        shift = (before - after) // MINUTE
        k = draw(st.integers(1, shift - 1))
        start = jump_to + minutes(k)
        end = jump_from + minutes(draw(st.integers(0, 600)))
        moment = instant - minutes(draw(st.integers(1, shift - k)))
    else:
        name, instant, before, after = draw(st.sampled_from(transitions()))
        end = near_jump(draw, name, instant, before, 75)
        start = draw(minute_times)
        moment = instant + minutes(draw(st.integers(-12 * 60, 2 * 60)))
    start, end = (x if isinstance(x, time) else x.time() for x in (start, end))
    assume(start != end)
    return name, instant, before, after, moment, start, end


def test_quiet_hours_end_across_dst():
    hits: Counter = Counter()

    @settings(PROPS, max_examples=DST_EXAMPLES)
    @given(dst_quiet_cases(), st.booleans())
    def run(case, as_object):
        name, instant, before, after, moment, start, end = case
        zone = ZoneInfo(name)
        got = check_quiet_hours_end(moment, start, end, name, as_object)

        reading = got.astimezone(zone)
        if got == moment:
            kind = "not quiet"
        elif got == instant and reading.time() != end:
            kind = "end skipped by a gap" if after > before else "clock fell back out of window"
        elif reading.time() == end and is_ambiguous(zone, reading.replace(tzinfo=None)):
            kind = f"ambiguous end, occurrence {reading.fold + 1}"
        else:
            kind = "plain end"
        event(kind)
        hits[kind] += 1

    run()
    STATS.update({f"quiet: {k}": v for k, v in hits.items()})
    for kind in (
        "end skipped by a gap",
        "clock fell back out of window",
        "ambiguous end, occurrence 1",
        "ambiguous end, occurrence 2",
    ):
        assert hits[kind], f"no example hit {kind!r}: {dict(hits)}"


@st.composite
def dst_digest_cases(draw):
    """(zone, transition, frequency, moment, daily_at, weekly_on) around a transition.

    "gap"/"repeated" put ``daily_at`` in the skipped/repeated readings and the moment
    within a period of the transition (hourly boundaries land there by themselves);
    "any" puts ``daily_at`` within 75 minutes of the jump.
    """
    scenario = draw(st.sampled_from(["gap", "repeated", "any"]))
    event(f"scenario: {scenario}")
    pool = {"gap": springs, "repeated": falls, "any": transitions}[scenario]()
    name, instant, before, after = draw(st.sampled_from(pool))
    jump_from, jump_to = jump_readings(instant, before, after)
    shift = abs(after - before) // MINUTE
    if scenario == "any":
        daily_at = near_jump(draw, name, instant, before, 75)
    else:
        daily_at = (min(jump_from, jump_to) + minutes(draw(st.integers(0, shift - 1)))).time()
    frequency = draw(st.sampled_from(["hourly", "daily", "weekly"]))
    weekly_on = jump_from.weekday() if scenario != "any" else draw(st.integers(0, 6))
    period = PERIOD[frequency] // MINUTE
    moment = instant + minutes(draw(st.integers(-period, period - 1)))
    return name, instant, before, after, frequency, moment, daily_at, weekly_on


def test_digest_window_across_dst():
    hits: Counter = Counter()

    @settings(PROPS, max_examples=DST_EXAMPLES)
    @given(dst_digest_cases(), st.booleans())
    def run(case, as_object):
        name, instant, before, after, frequency, moment, daily_at, weekly_on = case
        zone = ZoneInfo(name)
        got = check_digest_window(moment, frequency, name, daily_at, weekly_on, as_object)

        jump_from, jump_to = jump_readings(instant, before, after)
        skipped = ref_latest_boundary(jump_to - MINUTE, frequency, daily_at, weekly_on)
        for bound in got:
            reading = bound.astimezone(zone)
            if bound == instant and after > before and skipped >= jump_from:
                kind = "boundary in a gap"
            elif is_ambiguous(zone, reading.replace(tzinfo=None)):
                assert reading.fold == 0, "an ambiguous boundary must be its first occurrence"
                kind = "ambiguous boundary"
            else:
                continue
            event(f"{frequency}: {kind}")
            hits[f"{frequency}: {kind}"] += 1

    run()
    STATS.update({f"digest: {k}": v for k, v in hits.items()})
    for frequency in ("hourly", "daily", "weekly"):
        for kind in ("boundary in a gap", "ambiguous boundary"):
            assert hits[f"{frequency}: {kind}"], f"no {frequency} example hit {kind!r}: {hits}"


# -- pinned examples -------------------------------------------------------------------


def test_berlin_spring_forward_end_in_gap():
    # 2026-03-29: 02:00 CET -> 03:00 CEST at 01:00 UTC; 02:30 does not exist that night.
    moment = local(BERLIN, 2026, 3, 28, 23, 0)
    got = quiet_hours_end(moment, time(22), time(2, 30), "Europe/Berlin")
    assert got == utc(2026, 3, 29, 1, 0)
    assert got.astimezone(BERLIN).replace(tzinfo=None) == datetime(2026, 3, 29, 3, 0)


def test_berlin_fall_back_ambiguous_end():
    # 2026-10-25: 03:00 CEST -> 02:00 CET at 01:00 UTC; 02:30 happens twice.
    quiet = (time(22), time(2, 30))
    # From the evening before: the first 02:30 (CEST).
    assert quiet_hours_end(local(BERLIN, 2026, 10, 24, 23, 0), *quiet, BERLIN) == utc(
        2026, 10, 25, 0, 30
    )
    # From the repeated hour (02:10 CET): the second 02:30.
    second_pass = local(BERLIN, 2026, 10, 25, 2, 10, fold=1)
    assert second_pass == utc(2026, 10, 25, 1, 10)
    assert quiet_hours_end(second_pass, *quiet, BERLIN) == utc(2026, 10, 25, 1, 30)
    # 02:40 CEST is not quiet, though the clock comes back into quiet hours at 01:00 UTC.
    free = local(BERLIN, 2026, 10, 25, 2, 40)
    assert quiet_hours_end(free, *quiet, BERLIN) == free == utc(2026, 10, 25, 0, 40)
    assert in_quiet_hours(utc(2026, 10, 25, 1, 0), *quiet, BERLIN)


def test_berlin_fall_back_jumps_out_of_window():
    # Quiet 02:30-03:30: at 03:00 CEST the clock reads 02:00 CET, before the window.
    moment = local(BERLIN, 2026, 10, 25, 2, 45)
    assert quiet_hours_end(moment, time(2, 30), time(3, 30), BERLIN) == utc(2026, 10, 25, 1, 0)


def test_new_york_transitions():
    # 2026-03-08: 02:00 EST -> 03:00 EDT at 07:00 UTC.
    moment = local(NEW_YORK, 2026, 3, 7, 23, 0)
    assert quiet_hours_end(moment, time(21), time(2, 30), NEW_YORK) == utc(2026, 3, 8, 7, 0)
    # 2026-11-01: 02:00 EDT -> 01:00 EST at 06:00 UTC; 01:30 happens twice.
    quiet = (time(23), time(1, 30))
    assert quiet_hours_end(local(NEW_YORK, 2026, 11, 1, 0, 30), *quiet, NEW_YORK) == utc(
        2026, 11, 1, 5, 30
    )
    moment = local(NEW_YORK, 2026, 11, 1, 1, 10, fold=1)
    assert quiet_hours_end(moment, *quiet, "America/New_York") == utc(2026, 11, 1, 6, 30)


def test_lord_howe_half_hour_gap():
    # 2026-10-04: 02:00 +10:30 -> 02:30 +11:00 at 15:30 UTC (Oct 3); 02:15 is skipped.
    zone = ZoneInfo("Australia/Lord_Howe")
    moment = local(zone, 2026, 10, 3, 23, 0)
    assert quiet_hours_end(moment, time(22), time(2, 15), zone) == utc(2026, 10, 3, 15, 30)


def test_window_crossing_midnight():
    quiet = (time(22), time(7))
    assert quiet_hours_end(utc(2026, 1, 5, 23, 30), *quiet, "UTC") == utc(2026, 1, 6, 7)
    assert quiet_hours_end(utc(2026, 1, 6, 3), *quiet, "UTC") == utc(2026, 1, 6, 7)
    assert quiet_hours_end(utc(2026, 1, 5, 22), *quiet, "UTC") == utc(2026, 1, 6, 7)
    # Full time of day is compared: one second before the end is still quiet.
    assert quiet_hours_end(utc(2026, 1, 6, 6, 59, 59), *quiet, "UTC") == utc(2026, 1, 6, 7)
    # Kolkata 22:00-07:00 is 16:30-01:30 UTC.
    assert quiet_hours_end(utc(2026, 1, 5, 20), *quiet, "Asia/Kolkata") == utc(2026, 1, 6, 1, 30)


@pytest.mark.parametrize(
    "moment", [utc(2026, 1, 6, 7), utc(2026, 1, 6, 12), datetime(2026, 7, 1, 12, tzinfo=BERLIN)]
)
def test_not_quiet_returns_moment(moment):
    got = quiet_hours_end(moment, time(22), time(7), "UTC")
    assert got == moment and got.tzinfo is UTC
    assert not in_quiet_hours(moment, time(22), time(7), "UTC")


def test_naive_moment_refused():
    naive = datetime(2026, 1, 6, 12)
    calls = [
        lambda: in_quiet_hours(naive, time(22), time(7), "UTC"),
        lambda: quiet_hours_end(naive, time(22), time(7), "UTC"),
        lambda: digest_window(naive, "daily", "UTC"),
        lambda: next_send_time(naive, "immediate", "UTC"),
        lambda: deferred_until(naive, frequency="hourly", tz="UTC", quiet=None),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="moment must be timezone-aware"):
            call()


def test_bad_window_and_zone_arguments():
    with pytest.raises(ValueError, match="differ"):
        in_quiet_hours(utc(2026, 1, 1), time(7), time(7), "UTC")
    with pytest.raises(ValueError, match="naive"):
        quiet_hours_end(utc(2026, 1, 1), time(7, tzinfo=UTC), time(8), "UTC")
    with pytest.raises(ValueError, match="unknown timezone"):
        quiet_hours_end(utc(2026, 1, 1), time(7), time(8), "Mars/Olympus")
    with pytest.raises(ValueError, match="non-empty"):
        as_zone("")
    with pytest.raises(TypeError):
        as_zone(UTC)
    assert as_zone("Europe/Berlin") is as_zone(BERLIN) is BERLIN


def test_digest_windows_pinned():
    # Kolkata (+05:30): hourly windows end at the local :00.
    assert digest_window(utc(2026, 5, 1, 5, 15), "hourly", "Asia/Kolkata") == (
        utc(2026, 5, 1, 4, 30),
        utc(2026, 5, 1, 5, 30),
    )
    # On a boundary: the window that starts there.
    assert digest_window(utc(2026, 5, 1, 8), "daily", "UTC") == (
        utc(2026, 5, 1, 8),
        utc(2026, 5, 2, 8),
    )
    # Weekly on Monday 08:00 (2026-05-04 is a Monday); Friday falls in the week before.
    assert digest_window(utc(2026, 5, 8, 12), "weekly", "UTC") == (
        utc(2026, 5, 4, 8),
        utc(2026, 5, 11, 8),
    )
    # Berlin daily at 02:30: skipped on 2026-03-29 (-> 03:00 CEST), twice on 2026-10-25.
    at = {"daily_at": time(2, 30)}
    assert digest_window(utc(2026, 3, 28, 12), "daily", BERLIN, **at) == (
        utc(2026, 3, 28, 1, 30),
        utc(2026, 3, 29, 1, 0),
    )
    assert digest_window(utc(2026, 10, 25, 1, 15), "daily", BERLIN, **at) == (
        utc(2026, 10, 25, 0, 30),  # the first 02:30; the second one is no boundary
        utc(2026, 10, 26, 1, 30),
    )
    # Hourly across the Berlin gap: 02:00 and 03:00 are both the transition instant.
    assert digest_window(utc(2026, 3, 29, 0, 59), "hourly", BERLIN) == (
        utc(2026, 3, 29, 0, 0),
        utc(2026, 3, 29, 1, 0),
    )
    assert digest_window(utc(2026, 3, 29, 1, 0), "hourly", BERLIN) == (
        utc(2026, 3, 29, 1, 0),
        utc(2026, 3, 29, 2, 0),
    )
    # Hourly across the fall-back: 02:00 CEST to 03:00 CET is two hours.
    assert digest_window(utc(2026, 10, 25, 1, 30), "hourly", BERLIN) == (
        utc(2026, 10, 25, 0, 0),
        utc(2026, 10, 25, 2, 0),
    )


def test_digest_argument_errors():
    moment = utc(2026, 1, 1)
    with pytest.raises(ValueError, match="frequency"):
        digest_window(moment, "monthly", "UTC")
    with pytest.raises(ValueError, match="frequency"):
        next_send_time(moment, "monthly", "UTC")
    with pytest.raises(ValueError, match="frequency 'immediate'"):
        digest_window(moment, "immediate", "UTC")
    for bad in (7, -1, True, "0"):
        with pytest.raises(ValueError, match="weekly_on"):
            digest_window(moment, "weekly", "UTC", weekly_on=bad)
    with pytest.raises(ValueError, match="daily_at"):
        digest_window(moment, "daily", "UTC", daily_at=time(8, tzinfo=UTC))


def test_frequency_choices_members_accepted():
    class Frequency(models.TextChoices):  # shaped like the package's own choices
        DAILY = "daily"
        IMMEDIATE = "immediate"

    moment = local(BERLIN, 2026, 5, 1, 12, 0)
    assert next_send_time(moment, Frequency.DAILY, BERLIN) == utc(2026, 5, 2, 6)
    assert next_send_time(moment, Frequency.IMMEDIATE, BERLIN) == moment
    assert next_send_time(moment, Frequency.IMMEDIATE, BERLIN).tzinfo is UTC


def test_deferred_until_pinned():
    quiet = (time(7), time(9))
    # The 08:00 digest lands in quiet hours 07:00-09:00: it waits for 09:00.
    got = deferred_until(utc(2026, 5, 1, 12), frequency="daily", tz="UTC", quiet=quiet)
    assert got == utc(2026, 5, 2, 9)
    # Immediate: the moment itself, or the end of quiet hours.
    for frequency_quiet, expected in (
        (None, utc(2026, 5, 1, 23)),
        ((time(22), time(7)), utc(2026, 5, 2, 7)),
        ((time(7), time(9)), utc(2026, 5, 1, 23)),
    ):
        got = deferred_until(
            utc(2026, 5, 1, 23), frequency="immediate", tz="UTC", quiet=frequency_quiet
        )
        assert got == expected
    # Hourly, pushed across the Berlin spring-forward gap (quiet until 02:30).
    got = deferred_until(
        local(BERLIN, 2026, 3, 29, 1, 10),
        frequency="hourly",
        tz=BERLIN,
        quiet=(time(22), time(2, 30)),
    )
    assert got == utc(2026, 3, 29, 1, 0)


# -- validate_quiet_hours --------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "tz", "errors"),
    [
        (time(22), None, "UTC", {"quiet_hours_end": "incomplete"}),
        (None, time(7), "UTC", {"quiet_hours_start": "incomplete"}),
        (time(7), time(7), "UTC", {"quiet_hours_end": "empty_window"}),
        (time(22, tzinfo=UTC), time(7), "UTC", {"quiet_hours_start": "aware_time"}),
        (time(22), time(7, tzinfo=UTC), "UTC", {"quiet_hours_end": "aware_time"}),
        ("22:00", time(7), "UTC", {"quiet_hours_start": "invalid"}),
        (time(22), datetime(2026, 1, 1, 7), "UTC", {"quiet_hours_end": "invalid"}),
        (None, None, "", {"timezone": "required"}),
        (None, None, None, {"timezone": "required"}),
        (time(22), time(7), "Mars/Olympus", {"timezone": "invalid_timezone"}),
        (time(22), time(7), "America", {"timezone": "invalid_timezone"}),
        (time(22), time(7), "../etc/passwd", {"timezone": "invalid_timezone"}),
        (time(22), time(7), "europe berlin", {"timezone": "invalid_timezone"}),
        (
            time(1),
            None,
            "Nope/Nope",
            {"quiet_hours_end": "incomplete", "timezone": "invalid_timezone"},
        ),
    ],
)
def test_validate_quiet_hours_refuses(start, end, tz, errors):
    with pytest.raises(ValidationError) as caught:
        validate_quiet_hours(start, end, tz)
    exc = caught.value
    assert set(exc.message_dict) == set(errors)
    assert {field: [e.code for e in errs] for field, errs in exc.error_dict.items()} == {
        field: [code] for field, code in errors.items()
    }
    assert all(isinstance(m, str) and m for ms in exc.message_dict.values() for m in ms)


@pytest.mark.parametrize(
    ("start", "end", "tz"),
    [
        (None, None, "UTC"),
        (time(22), time(7), "Europe/Berlin"),
        (time(0), time(23, 59, 59), "Pacific/Chatham"),
    ],
)
def test_validate_quiet_hours_accepts(start, end, tz):
    validate_quiet_hours(start, end, tz)
