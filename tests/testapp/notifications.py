"""The test app's types: a task's creation and status change, the domain types the
package's tests send (API filters and stats, the centre's type filter, webhooks, hooks)."""

import django_notify

TASKS = django_notify.Category("tasks", "Task events", "A task's lifecycle.")


@django_notify.register
class TaskCreated(django_notify.NotificationType):
    key = "task.created"
    id = 8101
    label = "Task created"
    description = "A new task has been created"
    category = TASKS
    channels = ("in_app", "email")
    default_channels = ("in_app",)
    context = {"task": "The task"}
    title = "Task {task} created"


@django_notify.register
class TaskStatusChanged(django_notify.NotificationType):
    key = "task.status_changed"
    id = 8102
    label = "Task status change"
    description = "A task's status has changed"
    category = TASKS
    channels = ("in_app", "email")
    default_channels = ("in_app",)
    context = {
        "task": "The task",
        "old_status": "The status before the change",
        "new_status": "The status after the change",
    }
    title = "Task {task} moved from {old_status} to {new_status}"
