"""The signals of platform alerts, sent with ``sender=PlatformAlert``."""

from __future__ import annotations

from django.dispatch import Signal

#: An alert was raised: a new one, or another occurrence of an open one. Sent after the
#: transaction commits (never for a rolled-back alert), once per ``raise_alert`` call; a
#: receiver's error is logged and never reaches the caller. kwargs: ``alert`` (as
#: stored), ``created`` (True for a new row), ``escalated`` (True when an occurrence
#: raised an open alert's severity; always False when ``created``).
alert_raised = Signal()

#: An open alert was resolved (sent after commit, once per alert that changed).
#: kwargs: ``alert``, ``user`` (who resolved it).
alert_resolved = Signal()
