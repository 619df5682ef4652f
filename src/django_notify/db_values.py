"""Which Python values the database stores as they are.

Preparing a value for the database (``get_db_prep_value`` / ``get_db_prep_save``) is a
Python call per value; for the ints and strs of integer, key and text columns it returns
the value unchanged. A fan-out prepares tens of thousands of them (the rows of a bulk
insert, the ids of a look-up), so both skip the calls when :func:`stored_as_is` says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

INTEGER_TYPES = frozenset(
    (
        "AutoField", "BigAutoField", "SmallAutoField", "IntegerField", "BigIntegerField",
        "SmallIntegerField", "PositiveIntegerField", "PositiveBigIntegerField",
        "PositiveSmallIntegerField",
    )
)  # fmt: skip
TEXT_TYPES = frozenset(("CharField", "TextField", "SlugField", "EmailField", "URLField"))


def stored_as_is(field, values: Iterable[Any]) -> bool:
    """Every value (or NULL) is what ``field`` stores: ints for an integer column or a
    key to one, strs for a text column or a key to one."""
    target = field.target_field if field.is_relation else field
    kind = target.get_internal_type()
    if kind in INTEGER_TYPES:
        wanted: type = int
    elif kind in TEXT_TYPES:
        wanted = str
    else:
        return False
    # The types present, gathered in C: a fan-out asks this of 10,000 values at a time.
    return set(map(type, values)) <= {wanted, type(None)}
