"""The JSON API (``notifications/api/`` in the usual mount). Route names are namespaced:
``django_notify:api-list`` and so on. The OpenAPI document at ``api/openapi.json`` is
built from these patterns, so a route added here is documented by its view."""

from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt

from .errors import error_response
from .views import alerts, document, notifications, preferences, sending, templates


@csrf_exempt  # or the CSRF middleware would answer an unknown POST with its HTML 403
def unknown_path(request, *args, **kwargs):
    # Without it an unknown API path would get the site's HTML 404 page.
    return error_response(
        404, "not_found", f"No API endpoint at {request.path} (API paths end with a slash)."
    )


urlpatterns = [
    path("notifications/", notifications.NotificationListView.as_view(), name="api-list"),
    path(
        "notifications/unread-count/",
        notifications.UnreadCountView.as_view(),
        name="api-unread-count",
    ),
    path("notifications/recent/", notifications.RecentView.as_view(), name="api-recent"),
    path("notifications/mark-read/", notifications.MarkReadView.as_view(), name="api-mark-read"),
    path(
        "notifications/mark-all-read/",
        notifications.MarkAllReadView.as_view(),
        name="api-mark-all-read",
    ),
    path(
        "notifications/dismiss-all/", notifications.DismissAllView.as_view(), name="api-dismiss-all"
    ),
    path("notifications/stats/", notifications.StatsView.as_view(), name="api-stats"),
    path("notifications/send/", sending.SendView.as_view(), name="api-send"),
    path("notifications/send-to-self/", sending.SendToSelfView.as_view(), name="api-send-to-self"),
    path("notifications/send-system/", sending.SendSystemView.as_view(), name="api-send-system"),
    path(
        "notifications/<int:pk>/", notifications.NotificationDetailView.as_view(), name="api-detail"
    ),
    path("notifications/<int:pk>/read/", notifications.ReadView.as_view(), name="api-read"),
    path("notifications/<int:pk>/unread/", notifications.UnreadView.as_view(), name="api-unread"),
    path(
        "notifications/<int:pk>/dismiss/", notifications.DismissView.as_view(), name="api-dismiss"
    ),
    path("preferences/", preferences.PreferencesView.as_view(), name="api-preferences"),
    path(
        "preferences/reset/",
        preferences.PreferencesResetView.as_view(),
        name="api-preferences-reset",
    ),
    path("templates/", templates.TemplateListView.as_view(), name="api-templates"),
    path("templates/<int:pk>/", templates.TemplateDetailView.as_view(), name="api-template"),
    path("alerts/", alerts.AlertListView.as_view(), name="api-alerts"),
    path("alerts/stats/", alerts.AlertStatsView.as_view(), name="api-alert-stats"),
    path("alerts/<int:pk>/resolve/", alerts.AlertResolveView.as_view(), name="api-alert-resolve"),
    path("openapi.json", document.OpenAPIView.as_view(), name="api-openapi"),
    # Any character, a newline too ("." is not): "1%0A/" must not reach the HTML 404.
    re_path(r"^[\s\S]*\Z", unknown_path, name="api-unknown"),
]
