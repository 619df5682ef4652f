"""Views that need no login: the one-click unsubscribe page."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from .channels import channels
from .delivery import unsubscribe
from .types import notification_types


def _labels(types: list[str], channel: str) -> dict:
    """The page names types and the channel as the preferences page does, not by key."""
    spec = dict(channels.items()).get(channel)
    return {
        "types": types,
        "channel": channel,
        "type_labels": [
            str(notification_types.get(key).get_label()) if key in notification_types else key
            for key in types
        ],
        "channel_label": (spec.backend.label if spec else "") or channel,
    }


@method_decorator(csrf_exempt, name="dispatch")
class UnsubscribeView(View):
    """GET shows a confirmation button (mail scanners follow links, so GET never changes
    anything); POST, from that button or from a mail client's RFC 8058 one-click request,
    switches the channel off. CSRF-exempt because the signed token is the authorisation
    and one-click POSTs come from mail providers, not from a browser session."""

    template_name = "django_notify/unsubscribe.html"

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        try:
            user, types, channel = unsubscribe.read_token(token)
        except ValidationError as exc:
            return render(request, self.template_name, {"error": exc.messages[0]}, status=400)
        return render(request, self.template_name, {"confirm": True, **_labels(types, channel)})

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        try:
            user, types, channel = unsubscribe.apply(token)
        except ValidationError as exc:
            return render(request, self.template_name, {"error": exc.messages[0]}, status=400)
        return render(request, self.template_name, {"done": True, **_labels(types, channel)})
