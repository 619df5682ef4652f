from .alert import AlertType, PlatformAlert, Severity
from .base import AbstractNotification
from .delivery import (
    CLAIMABLE_STATUSES,
    FINAL_STATUSES,
    MARKED_EMAILED,
    Delivery,
    DeliveryStatus,
    Digest,
    Frequency,
)
from .endpoint import WebhookEndpoint
from .event import Event
from .notification import Notification
from .preference import NotificationPreference, OrganizationPreference, RecipientSettings
from .receipt import NotificationReceipt
from .rules import (  # subscription rules and their criteria
    DynamicCriterion,
    GroupCriterion,
    OrganizationRoleCriterion,
    PermissionCriterion,
    RuleCriterion,
    StaffCriterion,
    SubscriptionRule,
)
from .subscription import OptOut, Subscription
from .template import NotificationTemplate
from .token import ApiToken

__all__ = [
    "AbstractNotification",
    "AlertType",
    "ApiToken",
    "PlatformAlert",
    "Severity",
    "CLAIMABLE_STATUSES",
    "MARKED_EMAILED",
    "FINAL_STATUSES",
    "Delivery",
    "DeliveryStatus",
    "Digest",
    "Frequency",
    "NotificationPreference",
    "NotificationTemplate",
    "OrganizationPreference",
    "RecipientSettings",
    "WebhookEndpoint",
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
