"""The OpenAPI document, served without login."""

from __future__ import annotations

from ..base import ApiView, operation
from ..openapi import build_document
from ..schema import JSONObject


class OpenAPIView(ApiView):
    @operation(
        summary="This document",
        responses={200: JSONObject(description="The OpenAPI 3.1 document.")},
        auth=False,
        tags=("meta",),
    )
    def get(self, request, *, user, query, body):
        # The document's own URL names the mount, however the host included the API.
        return build_document(request.path.removesuffix("openapi.json"))
