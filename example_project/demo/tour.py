"""The landing page's tour: one entry per system, with the login to use and the steps.

Data, not template text, so the tests can walk every page each entry names as the login
it names. ``pages`` are (label, path) pairs; paths are literal, since the multi-channel
pages belong to another app of this site.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stop:
    key: str
    title: str
    logins: tuple[str, ...]
    steps: tuple[str, ...]
    pages: tuple[tuple[str, str], ...]


TOUR = (
    Stop(
        "roles",
        "Platform roles and sender rules",
        ("light", "dev", "orgadmin", "staff"),
        (
            "Log in as light and send to “A user”: refused, a light user may only notify "
            "themselves.",
            "Log in as dev: sending to the Ops team works (Ops is shared with dev), sending to "
            "globex is refused (another organization).",
            "Log in as orgadmin and send to “My whole organization”: one row every Acme user sees.",
            "Log in as staff and send to “Everyone”: one system-global row for every user.",
        ),
        (("Feed and send form", "/"),),
    ),
    Stop(
        "jobs",
        "Jobs and rules",
        ("staff", "dev", "orgadmin"),
        (
            "Log in as staff, open Jobs → “Acme external pentest” and change the job's status: "
            "its account manager (orgadmin) and deputy (staff) are notified by a rule.",
            "On the same page change the phase “External infrastructure”: its project lead "
            "(dev) is notified.",
            "Log in as dev and report leave on the job: the account managers are notified; log "
            "in as orgadmin and approve it: dev is notified, in the bell and by email (printed "
            "by the server, with a link to this site's port).",
            "As orgadmin or staff, flag the client's onboarding for renewal: the account manager "
            "and the primary contact (dev) are notified.",
        ),
        (("Jobs", "/jobs/"),),
    ),
    Stop(
        "alerts",
        "Platform alerts",
        ("staff",),
        (
            "Log in as staff and open Alerts: raise the demo alert.",
            "Raise it again: still one alert, now with 2 occurrences.",
            "Resolve it with a note on the Alerts tab of the notification centre (or in the "
            "admin).",
        ),
        (("Alerts", "/alerts/"), ("Alerts tab", "/notifications/?tab=alerts")),
    ),
    Stop(
        "portal",
        "The portal's announcements and the bell",
        ("staff", "dev"),
        (
            "Log in as staff, open Announcements and post one (staff hold the "
            "portal.add_announcement permission; admin can post in the admin too).",
            "Log in as dev (or light, orgadmin, globex: the portal participants): the bell's "
            "badge counts it and its dropdown shows it; mark it read there and the feed follows.",
        ),
        (("Announcements", "/portal/"), ("Notification centre", "/notifications/")),
    ),
    Stop(
        "channels",
        "Multi-channel delivery with webhooks",
        ("dev",),
        (
            "Log in as dev and open Channels: the webhook, Slack-shaped and Teams-shaped "
            "channels deliver to a receiver inside this demo that checks their signatures and "
            "shows what arrived.",
            "See the delivery log there, and run the digests now.",
        ),
        (("Channels", "/channels/"),),
    ),
)
