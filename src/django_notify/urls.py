"""``path("notifications/", include("django_notify.urls"))``: the JSON API under ``api/``,
the event stream under ``stream/``, the notification centre pages and the one-click
unsubscribe link."""

from django.urls import include, path

from .views import UnsubscribeView

app_name = "django_notify"

urlpatterns = [
    path("unsubscribe/<str:token>/", UnsubscribeView.as_view(), name="unsubscribe"),
    path("api/", include("django_notify.api.urls")),
    path("stream/", include("django_notify.realtime.urls")),
    path("", include("django_notify.pages.urls")),
]
