"""The JSON API: plain Django views, one error shape, an OpenAPI 3.1 document."""
