from django.urls import path

from . import views

urlpatterns = [
    path("", views.page, name="channels-demo"),
    path("send/", views.send_test, name="channels-demo-send"),
    path("digests/", views.run_digests, name="channels-demo-digests"),
    path("receive/webhook/", views.receive_webhook, name="channels-demo-webhook"),
    path("receive/slack/", views.receive_slack, name="channels-demo-slack"),
    path("receive/teams/", views.receive_teams, name="channels-demo-teams"),
]
