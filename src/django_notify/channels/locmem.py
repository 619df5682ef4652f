"""Keeps every message in memory, in :data:`outbox`: for host projects' tests.

```python
from django_notify.channels import locmem

def test_job_created_notifies_the_manager(...):
    ...
    assert [m.subject for m in locmem.outbox] == ["Job created"]
```

Like Django's ``mail.outbox`` it is one module-level list; clear it between tests
(``locmem.outbox.clear()``). ``OPTIONS={"FAIL": "retry" | "permanent"}`` makes every
send fail, to test failure handling.
"""

from __future__ import annotations

from typing import Any

from ..exceptions import DeliveryError, NotifyConfigurationError, RetryableDeliveryError
from .base import BaseChannel, Message, TransmitResult, user_text_column

#: Every message sent through a locmem channel, oldest first.
outbox: list[Message] = []


class LocmemChannel(BaseChannel):
    label = "Local memory"
    supports_html = True
    per_user_address = False
    options = {"FAIL": None, "ADDRESS_ATTRIBUTE": None}

    def validate_options(self) -> None:
        if self.config["FAIL"] not in (None, "retry", "permanent"):
            raise NotifyConfigurationError(
                f'DJANGO_NOTIFY["CHANNELS"][{self.alias!r}]["OPTIONS"]["FAIL"] must be '
                '"retry", "permanent" or None'
            )

    def get_addresses(self, users) -> dict[Any, str]:
        attribute = self.config["ADDRESS_ATTRIBUTE"]
        if not attribute:
            return super().get_addresses(users)
        return {u.pk: str(getattr(u, attribute)) for u in users if getattr(u, attribute, "")}

    def address_source(self) -> tuple[str, str] | None:
        if type(self).get_addresses is not LocmemChannel.get_addresses:
            return super().address_source()
        attribute = self.config["ADDRESS_ATTRIBUTE"]
        if not attribute:
            return ("constant", self.alias)
        column = user_text_column(attribute)
        return ("field", column) if column else None

    def build_payload(self, message: Message) -> Message:
        return message

    def transmit(self, payload: Message, message: Message) -> dict:
        fail = self.config["FAIL"]
        if fail == "retry":
            raise RetryableDeliveryError("locmem channel configured to fail (retry)")
        if fail == "permanent":
            raise DeliveryError("locmem channel configured to fail (permanent)")
        outbox.append(payload)
        return {"outbox_index": len(outbox) - 1}

    def parse_response(self, response: dict, message: Message) -> TransmitResult:
        return TransmitResult(response=response)
