from .base import AbstractNotification
from .notification import Notification
from .receipt import NotificationReceipt

__all__ = ["AbstractNotification", "Notification", "NotificationReceipt"]
