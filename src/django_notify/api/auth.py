"""Who is calling: an API token (``Authorization: Bearer dn_…``) or the Django session.

Token requests are CSRF-exempt: a browser cannot add an ``Authorization`` header to a
cross-site request without a CORS preflight the site never grants, so a forged request
cannot carry one. Session requests with an unsafe method go through Django's own CSRF
check, the way Django REST framework's ``SessionAuthentication.enforce_csrf`` does it: the
API views are ``csrf_exempt`` (so the middleware lets token requests through) and run
``CsrfViewMiddleware``'s checks themselves once they know the caller used the cookie.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.middleware.csrf import CsrfViewMiddleware

from ..models import ApiToken
from .errors import ApiError, not_authenticated

TOKEN_SCHEME = "bearer"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class _CsrfCheck(CsrfViewMiddleware):
    def _reject(self, request, reason):
        # The middleware answers with Django's HTML 403 page; we want the reason only.
        return reason


def enforce_csrf(request: HttpRequest) -> None:
    """Django's CSRF check (Origin/Referer, cookie and ``X-CSRFToken`` header), exactly as
    ``CsrfViewMiddleware`` would run it. Raises 403 ``csrf_failed``."""
    check = _CsrfCheck(lambda _request: None)
    # Reads the CSRF cookie into request.META, as the middleware's own request phase does
    # (needed when the host did not install the middleware).
    check.process_request(request)
    reason = check.process_view(request, None, (), {})
    if reason:
        raise ApiError(403, "csrf_failed", f"CSRF check failed: {reason}")


def bearer_key(request: HttpRequest) -> str | None:
    """The key of an ``Authorization: Bearer …`` header, or None for no (or another)
    scheme. Shared by the API and the event stream."""
    scheme, _, key = request.META.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
    return key.strip() if scheme.lower() == TOKEN_SCHEME else None


def authenticate(request: HttpRequest) -> tuple[Any, str] | None:
    """``(user, "token" | "session")``, or None for an anonymous request.

    A bearer token that does not authenticate is a 401 (no fallback to the session:
    a script with a revoked token must learn it). Other ``Authorization`` schemes are
    left to the host (a proxy's Basic auth) and the session decides.
    """
    key = bearer_key(request)
    if key is not None:
        user = ApiToken.authenticate(key)
        if user is None:
            raise not_authenticated("Invalid, inactive or expired API token.")
        return user, "token"
    user = getattr(request, "user", None)  # AuthenticationMiddleware's lazy user
    if user is None or not user.is_authenticated:
        return None
    if request.method in UNSAFE_METHODS:
        enforce_csrf(request)
    return user, "session"
