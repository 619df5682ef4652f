"""The in-demo receiver and the Channels page.

The three ``receive_*`` views are what a real receiver would run: they verify the
request (:mod:`channels_demo.receivers`), store it either way, and answer like the real
service (Standard Webhooks receivers 204, Slack ``200 ok``, Teams Workflows ``202``), or
refuse it. The demo's HTTP channels post to them on this very server: runserver is
threaded, so the request that sends (inline, right after its commit) and the request
that receives run side by side.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from django_notify import notify
from django_notify.delivery.dispatch import InlineDispatcher, get_dispatcher
from django_notify.delivery.sweep import send_digests
from django_notify.models import Delivery, DeliveryStatus, Digest, Frequency

from .models import ReceivedMessage
from .receivers import VERIFIERS, recorded_headers

#: Rows shown per list: the newest ones, which is what someone touring the demo looks for.
LIMIT = 25

#: What each receiver answers when it accepts, and when it refuses.
ACCEPTED = {
    "webhook": (204, b""),
    "slack": (200, b"ok"),
    "teams": (202, b""),
}
REFUSED = {
    "webhook": 400,  # the Standard Webhooks libraries' answer to a bad signature
    "slack": 403,
    "teams": 401,
}


def _receive(request, channel: str) -> HttpResponse:
    body = request.body
    verified, problem = VERIFIERS[channel](body, request.headers)
    ReceivedMessage.objects.create(
        channel=channel,
        headers=recorded_headers(request.headers),
        body=body.decode("utf-8", errors="replace"),
        verified=verified,
        problem=problem[:300],
    )
    if not verified:
        return HttpResponse(problem, status=REFUSED[channel], content_type="text/plain")
    status, content = ACCEPTED[channel]
    return HttpResponse(content, status=status, content_type="text/plain")


@csrf_exempt
@require_POST
def receive_webhook(request):
    return _receive(request, "webhook")


@csrf_exempt
@require_POST
def receive_slack(request):
    return _receive(request, "slack")


@csrf_exempt
@require_POST
def receive_teams(request):
    return _receive(request, "teams")


@login_required
@require_GET
def page(request):
    received = list(
        ReceivedMessage.objects.only(
            "channel", "headers", "body", "verified", "problem", "received_at"
        )[:LIMIT]
    )
    deliveries = list(
        Delivery.objects.filter(user=request.user)
        .select_related("notification")
        .only(
            "channel", "status", "attempts", "last_error", "reason", "sent_at", "created_at",
            "frequency", "digest_id", "notification__title",
        )
        .order_by("-created_at", "-pk")[:LIMIT]
    )  # fmt: skip
    digests = list(
        Digest.objects.filter(user=request.user)
        .annotate(notification_count=Count("deliveries"))
        .only("channel", "frequency", "status", "attempts", "last_error", "sent_at", "created_at")
        .order_by("-created_at", "-pk")[:LIMIT]
    )
    waiting = (
        Delivery.objects.filter(
            user=request.user, status=DeliveryStatus.SCHEDULED, digest__isnull=True
        )
        .exclude(frequency=Frequency.IMMEDIATE)
        .count()
    )
    return render(
        request,
        "channels_demo/page.html",
        {
            "received": received,
            "deliveries": deliveries,
            "digests": digests,
            "waiting": waiting,
            "inline": isinstance(get_dispatcher(), InlineDispatcher),
            "receivers": [
                (label, request.build_absolute_uri(reverse(name)))
                for label, name in (
                    ("Webhook", "channels-demo-webhook"),
                    ("Slack", "channels-demo-slack"),
                    ("Teams", "channels-demo-teams"),
                )
            ],
        },
    )


@login_required
@require_POST
def send_test(request):
    """A "deploy finished" notification to yourself: on by default on all three channels."""
    version = timezone.now().strftime("%Y.%m.%d-%H%M%S")
    notify(
        [request.user],
        "deploy.finished",
        title=f"Deploy {version} finished",
        body=f"Version {version} is live on staging.",
        url=reverse("channels-demo"),
    )
    messages.success(
        request,
        "Sent: a deploy notification to you, on the webhook, Slack and Teams channels "
        "(see what arrived below).",
    )
    return redirect("channels-demo")


@login_required
@require_POST
def run_digests(request):
    """Close your open digest windows now, then do what ``manage.py notify_send_digests``
    does at the end of a window (from cron or Celery beat on a real site)."""
    started = timezone.now()
    waiting = Delivery.objects.filter(
        user=request.user, status=DeliveryStatus.SCHEDULED, digest__isnull=True
    ).exclude(frequency=Frequency.IMMEDIATE)
    notifications = waiting.filter(next_attempt_at__gt=started).update(next_attempt_at=started)
    counts = send_digests()
    if not isinstance(get_dispatcher(), InlineDispatcher):
        messages.success(
            request,
            f"Digests: {counts['created']} created, {counts['dispatched']} handed to the "
            "worker. Reload in a moment to see them sent.",
        )
        return redirect("channels-demo")
    sent = Digest.objects.filter(
        user=request.user, status=DeliveryStatus.SENT, sent_at__gte=started
    ).aggregate(digests=Count("pk", distinct=True), notifications=Count("deliveries"))
    if sent["digests"]:
        plural = "s" if sent["notifications"] != 1 else ""
        text = (
            f"{sent['digests']} digest{'s' if sent['digests'] != 1 else ''} sent to you, "
            f"with {sent['notifications']} notification{plural}."
        )
        others = counts["dispatched"] - sent["digests"]
        if others > 0:
            text += f" {others} more went to other users."
        messages.success(request, text)
    elif notifications:
        messages.warning(request, "Your digests were collected but not sent: see the log below.")
    else:
        messages.info(
            request,
            "Nothing was waiting for a digest of yours. Choose hourly, daily or weekly for a "
            "channel on the Preferences page, then receive a few notifications.",
        )
    return redirect("channels-demo")
