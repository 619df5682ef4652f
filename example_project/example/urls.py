from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.staticfiles.urls import staticfiles_urlpatterns
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("notifications/", include("django_notify.urls")),
    path("", include("demo.urls")),
]

# The channels page and its receivers, where the app is installed (the package's own test
# settings load this module for the jobs' URLs without it).
if apps.is_installed("channels_demo"):
    urlpatterns.insert(2, path("channels/", include("channels_demo.urls")))

# The widget's script and styles under any server in DEBUG (runserver serves them by
# itself; uvicorn, for the event stream, does not). Nothing when DEBUG is off: deploy
# with collectstatic behind your web server or WhiteNoise. (Test settings that import
# this module without STATIC_URL get nothing either.)
if settings.DEBUG and settings.STATIC_URL:
    urlpatterns += staticfiles_urlpatterns()
