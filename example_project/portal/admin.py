from django.contrib import admin

from .models import Announcement


@admin.register(Announcement)
class AnnouncementAdmin(admin.ModelAdmin):
    list_display = ("title", "created_by", "created_at")
    list_select_related = ("created_by",)
    search_fields = ("title", "body")
    fields = ("title", "body")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user  # the author hears nothing of their own post
        super().save_model(request, obj, form, change)
