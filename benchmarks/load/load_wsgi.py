"""The load benchmark's WSGI application (``gunicorn load_wsgi:application`` from this
folder): the polling bells under a WSGI server, next to the stream under ASGI."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "load_settings")

application = get_wsgi_application()
