from ..rules.models import (  # the rules package keeps its models in this app
    DynamicCriterion,
    GroupCriterion,
    OrganizationRoleCriterion,
    PermissionCriterion,
    RuleCriterion,
    StaffCriterion,
    SubscriptionRule,
)
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
    "SubscriptionRule",
    "RuleCriterion",
    "GroupCriterion",
    "PermissionCriterion",
    "StaffCriterion",
    "OrganizationRoleCriterion",
    "DynamicCriterion",
]
