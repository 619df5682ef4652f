from .base import AbstractNotification
from .event import Event
from .notification import Notification
from .receipt import NotificationReceipt
from .subscription import OptOut, Subscription

__all__ = [
    "AbstractNotification",
    "Event",
    "Notification",
    "NotificationReceipt",
    "OptOut",
    "Subscription",
]
