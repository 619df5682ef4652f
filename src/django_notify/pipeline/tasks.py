"""Celery tasks of the write path: process one event, and sweep the events whose
on-commit processing never happened or failed. Ids only; safe to run twice or
concurrently (processing claims the event with a conditional update)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import shared_task

from ..delivery.tasks import TASK_OPTIONS
from .events import process_event, sweep


@shared_task(name="django_notify.process_event", **TASK_OPTIONS)
def process_event_task(event_id: Any) -> bool:
    return process_event(event_id)


@shared_task(name="django_notify.sweep_events", **TASK_OPTIONS)
def sweep_events_task() -> dict[str, int]:
    # Leave events committed in the last minute to their own on-commit processing.
    return sweep(older_than=timedelta(seconds=60))
