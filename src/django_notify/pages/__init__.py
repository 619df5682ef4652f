"""The notification centre pages: the full list with alerts, and the preferences page."""
