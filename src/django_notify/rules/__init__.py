"""Subscription rules, polymorphic criteria and the criteria registry."""

from .models import (
    BUILTIN_CRITERIA,
    DynamicCriterion,
    GroupCriterion,
    OrganizationRoleCriterion,
    PermissionCriterion,
    RuleCriterion,
    StaffCriterion,
    SubscriptionRule,
)
from .registry import criteria, validate_params

__all__ = [
    "BUILTIN_CRITERIA",
    "DynamicCriterion",
    "GroupCriterion",
    "OrganizationRoleCriterion",
    "PermissionCriterion",
    "RuleCriterion",
    "StaffCriterion",
    "SubscriptionRule",
    "criteria",
    "validate_params",
]
