from django.contrib import admin

from .models import Job, LeaveRequest, Phase

JOB_ROLES = tuple(Job.ROLES)
PHASE_ROLES = tuple(Phase.ROLES)


class PhaseInline(admin.TabularInline):
    model = Phase
    extra = 0
    fields = ("title", "status", *PHASE_ROLES)
    show_change_link = True


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("title", "status", "organization", "account_manager")
    list_filter = ("status", "organization")
    list_select_related = ("organization", "account_manager")
    search_fields = ("title",)
    raw_id_fields = JOB_ROLES
    inlines = (PhaseInline,)


@admin.register(Phase)
class PhaseAdmin(admin.ModelAdmin):
    list_display = ("title", "job", "status", "project_lead")
    list_filter = ("status",)
    list_select_related = ("job", "project_lead")
    search_fields = ("title", "job__title")
    raw_id_fields = ("job", *PHASE_ROLES)


@admin.register(LeaveRequest)
class LeaveRequestAdmin(admin.ModelAdmin):
    list_display = ("user", "job", "first_day", "last_day", "status")
    list_filter = ("status",)
    list_select_related = ("user", "job")
    raw_id_fields = ("user", "job", "decided_by")
