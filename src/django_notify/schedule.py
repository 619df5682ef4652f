"""When a delivery may go out: quiet hours and digest windows, as pure functions.

No models and no database: the dispatcher (and its tests) can ask "when may this go
out?" with nothing set up. The rules are stated on the recipient's local wall clock,
because that is what the recipient sees: "quiet between 22:00 and 07:00" and "a digest
every day at 08:00" mean those local readings whatever the season. Daylight saving makes
the wall clock skip a stretch (spring forward, a *gap*) or repeat one (fall back, an
*ambiguous* stretch), so every function says which instant it picks:

* a wall time inside a gap maps to the transition instant, the first existing wall time
  after the gap (the moment the clock "passes" the time it skipped);
* a wall time that occurs twice maps to its first occurrence (``fold=0``), except in
  :func:`quiet_hours_end`, whose answer is by definition the earliest instant that is
  really outside quiet hours, whichever occurrence (or jump) that is.

Put differently, a boundary wall time ``B`` happens at the first instant the local clock
reads ``B`` or later. The tests check exactly that against a minute-by-minute scan.

All returned datetimes are aware and in ``datetime.UTC``. A naive ``moment`` is refused:
guessing its zone is how deliveries end up an hour off. Timezones are ``ZoneInfo``
objects or IANA names (see :func:`as_zone`); other ``tzinfo`` implementations (pytz, fixed
offsets) are refused because the DST handling relies on ``zoneinfo``'s ``fold`` semantics.

DST transitions are located by comparing ``utcoffset()`` values and bisecting on whole
seconds (tzdata stores transition instants in whole seconds), so nothing scans minute by
minute. The code assumes a zone does not change its offset twice within about a day,
which holds for every zone in current tzdata.
"""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

__all__ = [
    "DAILY",
    "DIGEST_FREQUENCIES",
    "FREQUENCIES",
    "HOURLY",
    "IMMEDIATE",
    "WEEKLY",
    "as_zone",
    "deferred_until",
    "digest_window",
    "in_quiet_hours",
    "next_send_time",
    "quiet_hours_end",
    "validate_quiet_hours",
]

IMMEDIATE = "immediate"
HOURLY = "hourly"
DAILY = "daily"
WEEKLY = "weekly"
#: Digest frequencies, i.e. those with a window. "immediate" has none.
DIGEST_FREQUENCIES = (HOURLY, DAILY, WEEKLY)
FREQUENCIES = (IMMEDIATE, *DIGEST_FREQUENCIES)

_STEP = {HOURLY: timedelta(hours=1), DAILY: timedelta(days=1), WEEKLY: timedelta(days=7)}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
#: Each loop step in quiet_hours_end() crosses one offset change; real zones need <= 2.
_MAX_TRANSITIONS = 8


def as_zone(tz: ZoneInfo | str) -> ZoneInfo:
    """Return ``tz`` as a ``ZoneInfo``; callers may store either the object or its name.

    Raises ``ValueError`` for an empty or unknown name (``ZoneInfoNotFoundError`` is a
    ``KeyError``, which callers would not expect from a bad argument) and ``TypeError``
    for anything that is neither a ``ZoneInfo`` nor a string.
    """
    if isinstance(tz, ZoneInfo):
        return tz
    if not isinstance(tz, str):
        raise TypeError(f"tz must be a ZoneInfo or an IANA timezone name, not {type(tz).__name__}")
    if not tz:
        raise ValueError("tz must be a non-empty IANA timezone name")
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"unknown timezone {tz!r}") from exc


def validate_quiet_hours(start: time | None, end: time | None, tz: str) -> None:
    """Check a recipient's quiet-hours settings, naming the offending field.

    Meant for form/model ``clean()``: the ``ValidationError`` carries a dict keyed by
    ``quiet_hours_start``, ``quiet_hours_end`` and ``timezone`` so each message lands
    next to its field. Both ends or neither must be set (half a window has no meaning);
    they must differ (an empty window would silently never be quiet, or always be,
    depending on how one reads it, so it is refused); both must be plain ``time`` values
    without ``tzinfo`` (they are wall-clock readings in ``tz``); and ``tz`` must be a
    non-empty IANA name that ``zoneinfo`` can load. The timezone is checked even when
    quiet hours are off, because digests use it too.
    """
    errors: dict[str, list[ValidationError]] = {}

    def add(field: str, message: str, code: str, params: dict | None = None) -> None:
        errors.setdefault(field, []).append(ValidationError(message, code=code, params=params))

    usable = {}
    for field, value in (("quiet_hours_start", start), ("quiet_hours_end", end)):
        if value is None:
            continue
        if not isinstance(value, time):
            add(field, _("Enter a time of day."), "invalid")
        elif value.tzinfo is not None:
            add(
                field,
                _("Enter a local time of day without a timezone; the timezone field sets it."),
                "aware_time",
            )
        else:
            usable[field] = value

    if start is None and end is not None:
        add("quiet_hours_start", _("Set both ends of quiet hours, or neither."), "incomplete")
    elif end is None and start is not None:
        add("quiet_hours_end", _("Set both ends of quiet hours, or neither."), "incomplete")
    elif len(usable) == 2 and usable["quiet_hours_start"] == usable["quiet_hours_end"]:
        add(
            "quiet_hours_end",
            _("Quiet hours cannot start and end at the same time (an empty window)."),
            "empty_window",
        )

    if not isinstance(tz, str) or not tz:
        add("timezone", _("Enter a timezone."), "required")
    else:
        try:
            as_zone(tz)
        except ValueError:
            add("timezone", _("Unknown timezone: %(tz)s."), "invalid_timezone", {"tz": tz})

    if errors:
        raise ValidationError(errors)


def in_quiet_hours(moment: datetime, start: time, end: time, tz: ZoneInfo | str) -> bool:
    """Whether ``moment`` falls inside the quiet hours ``[start, end)`` of zone ``tz``.

    The moment is converted to the zone and its full local time of day (seconds and
    microseconds included, not rounded to the minute, so ``end`` itself is the first
    non-quiet instant) is compared with the window. ``start > end`` means the window
    crosses midnight (22:00-07:00). During a fall-back the repeated readings are quiet or
    not by their wall time alone; which occurrence it is does not matter.
    """
    _check_window(start, end)
    zone = as_zone(tz)
    return _is_quiet(_as_utc(moment).astimezone(zone).time(), start, end)


def quiet_hours_end(moment: datetime, start: time, end: time, tz: ZoneInfo | str) -> datetime:
    """The earliest instant ``>= moment`` at which the local wall time is not quiet.

    Returns ``moment`` (in UTC) when it is not quiet. Otherwise quiet hours can end in two
    ways, and the earlier one wins:

    * the wall clock reaches ``end`` (if ``end`` occurs twice that night, whichever
      occurrence comes first after ``moment``: from the second pass of a fall-back hour
      that is the second occurrence);
    * a DST transition makes the clock jump out of the window: forward over ``end``
      (``end`` is in a gap, e.g. 02:30 on a spring-forward night) or backward before
      ``start`` (a fall-back). The answer is then the transition instant itself.

    Nothing more: a moment that becomes quiet again later (the clock repeating an hour)
    does not matter, the question is only when the recipient may next be reached.
    Exact to the microsecond; it walks from one offset change to the next instead of
    scanning.
    """
    _check_window(start, end)
    zone = as_zone(tz)
    here = _as_utc(moment)
    for _step in range(_MAX_TRANSITIONS):
        offset = _offset(zone, here)
        wall = (here + offset).replace(tzinfo=None)
        if not _is_quiet(wall.time(), start, end):
            return here
        # The next reading of `end` after `wall`, assuming the offset stays as it is.
        # (`wall` is quiet, so it is not `end` itself.)
        target = datetime.combine(wall.date(), end)
        if target <= wall:
            target += timedelta(days=1)
        candidate = (target - offset).replace(tzinfo=UTC)
        if _offset(zone, candidate) == offset:
            return candidate
        # The offset changes on the way: everything before the change is quiet (the clock
        # ran continuously from `wall` and had not yet reached `end`). Start over there.
        here = _first_change(zone, here, candidate)
    raise RuntimeError(
        f"{zone.key}: more than {_MAX_TRANSITIONS} offset changes before quiet hours end"
    )


def digest_window(
    moment: datetime,
    frequency: str,
    tz: ZoneInfo | str,
    *,
    daily_at: time = time(8, 0),
    weekly_on: int = 0,
) -> tuple[datetime, datetime]:
    """The digest window ``(start, end)`` containing ``moment``: ``start <= moment < end``.

    Windows run from one send time to the next. Send times (boundaries) are local wall
    times: every local top of the hour for "hourly" (the local :00, also in zones with a
    half-hour offset such as Asia/Kolkata), every local ``daily_at`` for "daily", and
    ``daily_at`` on weekday ``weekly_on`` (Monday=0) for "weekly". A moment exactly on a
    boundary belongs to the window that starts there, so a digest sent at ``end`` covers
    what arrived before it and nothing that arrives at the same instant.

    DST: a boundary happens at the first instant the local clock reads it or later. So a
    boundary inside a gap is the transition instant, and an ambiguous one is its first
    occurrence (``fold=0``); the repeated reading is not a second boundary, which makes
    that window an hour longer (and a gap makes one shorter). Two boundaries that fall in
    the same gap coincide; the empty window between them contains no moment.

    ``ValueError`` (naming the argument) for an unknown frequency, for "immediate"
    (which has no window: see :func:`next_send_time`), a ``weekly_on`` outside 0..6 or a
    ``daily_at`` that is not a naive ``time``.
    """
    frequency = _check_digest_args(frequency, daily_at, weekly_on, allow_immediate=False)
    zone = as_zone(tz)
    here = _as_utc(moment)
    step = _STEP[frequency]
    wall = here.astimezone(zone).replace(tzinfo=None)

    start_wall = _floor_boundary(wall, frequency, daily_at, weekly_on)
    start = _wall_to_utc(start_wall, zone)
    # The wall-clock floor is the answer except around a transition, where the instants
    # of neighbouring boundaries can sit on the other side of `moment`.
    while start > here:
        start_wall -= step
        start = _wall_to_utc(start_wall, zone)
    end_wall = start_wall + step
    end = _wall_to_utc(end_wall, zone)
    while end <= here:
        start_wall, start = end_wall, end
        end_wall += step
        end = _wall_to_utc(end_wall, zone)
    return start, end


def next_send_time(
    moment: datetime,
    frequency: str,
    tz: ZoneInfo | str,
    *,
    daily_at: time = time(8, 0),
    weekly_on: int = 0,
) -> datetime:
    """When something arriving at ``moment`` goes out: ``moment`` itself for "immediate",
    else the end of its digest window (see :func:`digest_window`). Quiet hours are not
    applied here (see :func:`deferred_until`)."""
    frequency = _check_digest_args(frequency, daily_at, weekly_on, allow_immediate=True)
    if frequency == IMMEDIATE:
        as_zone(tz)  # a bad zone is a bug whatever the frequency; say so now
        return _as_utc(moment)
    return digest_window(moment, frequency, tz, daily_at=daily_at, weekly_on=weekly_on)[1]


def deferred_until(
    moment: datetime,
    *,
    frequency: str,
    tz: ZoneInfo | str,
    quiet: tuple[time, time] | None,
    daily_at: time = time(8, 0),
    weekly_on: int = 0,
) -> datetime:
    """The instant a delivery arriving at ``moment`` may actually go out.

    The digest send time (``moment`` for "immediate"), pushed to the end of quiet hours
    if it lands inside them (``quiet`` is ``(start, end)`` or ``None`` for none). Quiet
    hours only ever delay, never advance, a send; a digest held back this way still
    covers the window that ended at its scheduled send time.
    """
    send = next_send_time(moment, frequency, tz, daily_at=daily_at, weekly_on=weekly_on)
    if quiet is None:
        return send
    start, end = quiet
    return quiet_hours_end(send, start, end, tz)


# -- helpers ------------------------------------------------------------------------


def _as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; naive datetimes are refused rather than guessed."""
    if not isinstance(moment, datetime):
        raise TypeError(f"moment must be a datetime, not {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("moment must be timezone-aware")
    return moment.astimezone(UTC)


def _check_window(start: time, end: time) -> None:
    """The programmer-facing twin of :func:`validate_quiet_hours` (plain exceptions)."""
    for name, value in (("start", start), ("end", end)):
        if not isinstance(value, time):
            raise TypeError(f"{name} must be a datetime.time, not {type(value).__name__}")
        if value.tzinfo is not None:
            raise ValueError(f"{name} must be a naive time (a local wall-clock reading)")
    if start == end:
        raise ValueError("start and end must differ: an empty quiet-hours window is refused")


def _check_digest_args(
    frequency: str, daily_at: time, weekly_on: int, *, allow_immediate: bool
) -> str:
    """Validate the digest arguments; return the frequency as a plain ``str``.

    Comparing with ``==`` (not ``in`` a set or dict) lets a ``TextChoices`` member through:
    it equals its value but, being an enum member, does not hash like it.
    """
    for known in FREQUENCIES:
        if frequency == known:
            break
    else:
        raise ValueError(f"frequency must be one of {', '.join(FREQUENCIES)}; got {frequency!r}")
    if known == IMMEDIATE and not allow_immediate:
        raise ValueError("frequency 'immediate' has no digest window; use next_send_time()")
    if not isinstance(daily_at, time) or daily_at.tzinfo is not None:
        raise ValueError(f"daily_at must be a naive datetime.time; got {daily_at!r}")
    if isinstance(weekly_on, bool) or not isinstance(weekly_on, int) or not 0 <= weekly_on <= 6:
        raise ValueError(f"weekly_on must be a weekday number 0..6 (Monday=0); got {weekly_on!r}")
    return known


def _is_quiet(t: time, start: time, end: time) -> bool:
    if start < end:
        return start <= t < end
    return t >= start or t < end  # the window crosses midnight


def _offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None  # a ZoneInfo always has one
    return offset


def _first_change(zone: ZoneInfo, lo: datetime, hi: datetime) -> datetime:
    """The first instant in ``(lo, hi]`` whose UTC offset differs from ``lo``'s.

    The caller knows the offset at ``hi`` differs. Bisects on whole seconds, which is
    exact because tzdata transitions happen on whole seconds (about 17 steps for a day).
    """
    base = _offset(zone, lo)
    lo_s = (lo - _EPOCH) // _SECOND  # floor: same offset as lo (no transition in between)
    hi_s = -((_EPOCH - hi) // _SECOND)  # ceil
    while hi_s - lo_s > 1:
        mid = (lo_s + hi_s) // 2
        if _offset(zone, _EPOCH + mid * _SECOND) == base:
            lo_s = mid
        else:
            hi_s = mid
    return _EPOCH + hi_s * _SECOND


def _wall_to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first instant the local clock in ``zone`` reads ``wall`` (naive) or later.

    An existing reading: its first occurrence (``fold=0``). A reading in a gap: the
    transition instant. There ``fold=0`` applies the offset from before the transition
    and lands after it, ``fold=1`` the offset from after and lands before it, so the
    transition lies between the two and is found by bisection.
    """
    wall = wall.replace(fold=0)
    first = wall.replace(tzinfo=zone).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    other = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    return _first_change(zone, min(first, other), max(first, other))


def _floor_boundary(wall: datetime, frequency: str, daily_at: time, weekly_on: int) -> datetime:
    """The latest boundary wall time ``<= wall`` (naive local datetimes)."""
    if frequency == HOURLY:
        return wall.replace(minute=0, second=0, microsecond=0, fold=0)
    day = wall.date()
    if frequency == WEEKLY:
        day -= timedelta(days=(day.weekday() - weekly_on) % 7)
    boundary = datetime.combine(day, daily_at).replace(fold=0)
    if boundary > wall:
        boundary -= _STEP[frequency]
    return boundary
