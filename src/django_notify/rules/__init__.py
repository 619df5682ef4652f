"""Subscription rules, polymorphic criteria and the criteria registry."""

from ..criteria_registry import criteria, validate_params
from ..models.rules import (
    BUILTIN_CRITERIA,
    DynamicCriterion,
    GroupCriterion,
    OrganizationRoleCriterion,
    PermissionCriterion,
    RuleCriterion,
    StaffCriterion,
    SubscriptionRule,
)

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
