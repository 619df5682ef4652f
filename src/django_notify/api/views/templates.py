"""Message templates (staff): list, create, read, update."""

from __future__ import annotations

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction

from ...models import NotificationTemplate
from ..base import ApiView, operation
from ..errors import get_or_404
from ..pagination import page
from ..schema import Bool, Object, Query, Str
from ..serializers import TEMPLATE, TEMPLATE_PAGE, template_json
from .params import cursor_param, limit_param

_TEMPLATE_FIELDS = {
    "notification_type": Str(max_length=100, description='A type key, or "digest".'),
    "channel": Str(max_length=50),
    "organization_key": Str(max_length=64, description="Empty: every organization."),
    "language": Str(max_length=15, description="Empty: every language."),
    "subject": Str(description="Django template source."),
    "body": Str(description="Django template source (plain text)."),
    "html_body": Str(description="Django template source (HTML, sanitised on render)."),
    "is_active": Bool(),
}
TEMPLATE_CREATE = Object(
    {
        **_TEMPLATE_FIELDS,
        "notification_type": Str(max_length=100, min_length=1, required=True),
        "channel": Str(max_length=50, min_length=1, required=True),
    },
    name="TemplateCreate",
)
TEMPLATE_PATCH = Object(_TEMPLATE_FIELDS, name="TemplatePatch")
TEMPLATES = ("templates",)


def _save_template(template: NotificationTemplate) -> NotificationTemplate:
    template.full_clean()  # syntax errors name the field and the line
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError:  # a concurrent create of the same (type, channel, org, language)
        raise ValidationError(
            {NON_FIELD_ERRORS: ["A template for this type, channel, organization and "
                                "language exists already."]}
        ) from None  # fmt: skip
    return template


class TemplateListView(ApiView):
    @operation(
        summary="List message templates (staff)",
        query=Query(
            {
                "notification_type": Str(max_length=100),
                "channel": Str(max_length=50),
                "cursor": cursor_param(),
                "limit": limit_param(),
            }
        ),
        responses={200: TEMPLATE_PAGE},
        staff=True,
        tags=TEMPLATES,
    )
    def get(self, request, *, user, query, body):
        rows = NotificationTemplate.objects.order_by("-pk")
        for name in ("notification_type", "channel"):
            if name in query:
                rows = rows.filter(**{name: query[name]})
        found, next_cursor = page(rows, query["limit"], cursor=query.get("cursor"), field=None)
        return {"results": [template_json(t) for t in found], "next_cursor": next_cursor}

    @operation(
        summary="Create a message template (staff)",
        body=TEMPLATE_CREATE,
        responses={201: TEMPLATE},
        staff=True,
        tags=TEMPLATES,
    )
    def post(self, request, *, user, query, body):
        return 201, template_json(_save_template(NotificationTemplate(**body)))


class TemplateDetailView(ApiView):
    @operation(
        summary="One message template (staff)",
        responses={200: TEMPLATE},
        errors=(404,),
        staff=True,
        tags=TEMPLATES,
    )
    def get(self, request, *, user, query, body, pk):
        return template_json(get_or_404(NotificationTemplate.objects, pk))

    @operation(
        summary="Update a message template (staff)",
        body=TEMPLATE_PATCH,
        responses={200: TEMPLATE},
        errors=(404,),
        staff=True,
        tags=TEMPLATES,
    )
    def patch(self, request, *, user, query, body, pk):
        template = get_or_404(NotificationTemplate.objects, pk)
        for name, value in body.items():
            setattr(template, name, value)
        return template_json(_save_template(template))
