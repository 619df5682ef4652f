"""``stream/`` (``django_notify:stream``): the Server-Sent Events stream."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.stream, name="stream"),
]
