from django.urls import include, path

urlpatterns = [path("notifications/", include("django_notify.urls"))]
