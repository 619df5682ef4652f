"""values_by_pk: one UPDATE giving each row its own value, on every database form."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_notify.values_by_pk import values_by_pk
from tests.testapp.models import ExternalRecord

pytestmark = pytest.mark.django_db

#: Values a provider's response or a label could hold: nested JSON, a bare JSON string
#: and number, a list, a date (the field's encoder), quotes, a path-like key, non-ASCII.
DATA = [
    {"status_code": 200, "headers": {"retry-after": "5"}, "body": 'a "quoted" body'},
    "a bare string",
    42,
    [1, "two", {"three": None}],
    {"at": datetime.datetime(2026, 12, 7, 18, 0, tzinfo=datetime.UTC), "$.x": "ü→ñ"},
    {},
]
LABELS = ["plain", 'it\'s "quoted"', "ü→ñ 漢字", '$."5"', "", "x" * 100]


@pytest.fixture(params=["json", "case"])
def form(request, monkeypatch):
    """``case``: the form other databases get, one ``CASE`` branch per row."""
    if request.param == "case":
        monkeypatch.setattr(connection, "vendor", "other")
    return request.param


def update(rows, **fields):
    using = rows.db
    with CaptureQueriesContext(connection) as ctx:
        changed = rows.update(
            **{
                name: values_by_pk(ExternalRecord, name, values, using)
                for name, values in fields.items()
            }
        )
    (sql,) = [q["sql"] for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]]
    return changed, sql


def test_each_row_gets_its_own_json_and_text_value_in_one_update(form):
    records = ExternalRecord.objects.bulk_create(ExternalRecord() for _ in DATA)
    pks = [r.pk for r in records]
    assert all(isinstance(pk, uuid.UUID) for pk in pks)  # keyed as each database spells it
    changed, sql = update(
        ExternalRecord.objects.filter(pk__in=pks),
        data=dict(zip(pks, DATA, strict=True)),
        label=dict(zip(pks, LABELS, strict=True)),
    )
    assert changed == len(DATA)
    assert ("CASE WHEN" in sql) == (form == "case")
    stored = {r.pk: (r.data, r.label) for r in ExternalRecord.objects.all()}
    # What a save of the same values would have stored: dates as their ISO text.
    expected = [
        {**d, "at": "2026-12-07T18:00:00Z"} if isinstance(d, dict) and "at" in d else d
        for d in DATA
    ]
    assert stored == {pk: (d, label) for pk, d, label in zip(pks, expected, LABELS, strict=True)}


def test_the_json_form_compiles_one_parameter_whatever_the_batch(form):
    """The reason it exists: a CASE grows a branch (two parameters) per row, the JSON form
    carries the whole batch as one parameter."""
    records = ExternalRecord.objects.bulk_create(ExternalRecord() for _ in range(50))
    rows = ExternalRecord.objects.filter(pk__in=[r.pk for r in records])
    expression = values_by_pk(
        ExternalRecord, "label", {r.pk: f"#{i}" for i, r in enumerate(records)}, "default"
    )
    sql, params = expression.resolve_expression(rows.query).as_sql(
        rows.query.get_compiler("default"), connection
    )
    assert len(params) == (1 if form == "json" else 100)
    assert sorted(rows.values_list("label", flat=True)) == [""] * 50


def test_a_column_that_is_neither_text_nor_json_takes_the_case():
    record = ExternalRecord.objects.create()
    expression = values_by_pk(ExternalRecord, "id", {record.pk: record.pk}, "default")
    assert type(expression).__name__ == "Case"
