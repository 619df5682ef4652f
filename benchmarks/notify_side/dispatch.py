"""A dispatcher that sends nothing: the write figures time the write alone (rows and
Delivery rows planned), not the sending that follows the commit."""

from django_notify.delivery.dispatch import BaseDispatcher


class NoDispatcher(BaseDispatcher):
    def dispatch(self, delivery_ids) -> None:
        pass

    def dispatch_digests(self, digest_ids) -> None:
        pass
