"""The notification centre pages: the full list with alerts, and the preferences page."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.NotificationsPageView.as_view(), name="page-notifications"),
    path("preferences/", views.PreferencesPageView.as_view(), name="page-preferences"),
]
