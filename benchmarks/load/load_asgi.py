"""The load benchmark's ASGI application (``uvicorn load_asgi:application`` from this folder)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "load_settings")

application = get_asgi_application()
