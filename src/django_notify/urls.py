"""``path("notifications/", include("django_notify.urls"))``."""

from django.urls import path

from .views import UnsubscribeView

app_name = "django_notify"

urlpatterns = [
    path("unsubscribe/<str:token>/", UnsubscribeView.as_view(), name="unsubscribe"),
]
