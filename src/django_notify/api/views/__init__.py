"""The API's views, one module per resource: ``notifications`` (the feed and its read
state), ``sending``, ``preferences``, ``templates`` (staff), ``alerts`` (staff) and
``document`` (the OpenAPI document)."""
