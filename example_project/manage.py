#!/usr/bin/env python
"""Django's command-line utility for the django-notify example site.

Run it from this directory (example_project/) after ``pip install -e ..``:
``python manage.py migrate && python manage.py seed_demo && python manage.py runserver``.
"""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example.settings")
    try:
        from django.core.management import execute_from_command_line
    except ImportError as exc:
        raise ImportError(
            "Couldn't import Django. Install the package first: from the repository root, "
            "run `python -m pip install -e .` (or just `bash scripts/demo`)."
        ) from exc
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
