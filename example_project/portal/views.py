"""The portal page: its announcements, and for those with ``portal.add_announcement``
(staff in the demo) the form that posts one. Saving is all the view does about
notifications: the ``post_save`` receiver in ``notifications.py`` notifies the
participants."""

from __future__ import annotations

from demo.views import forbidden
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import redirect, render

from .forms import AnnouncementForm
from .models import PARTICIPANTS_GROUP, Announcement, participants

PERMISSION = "portal.add_announcement"


@login_required
def announcements(request):
    may_post = request.user.has_perm(PERMISSION)
    form = AnnouncementForm()
    if request.method == "POST":
        if not may_post:
            return forbidden(
                request, "Posting announcements needs the portal.add_announcement permission."
            )
        form = AnnouncementForm(request.POST)
        if form.is_valid():
            with transaction.atomic():
                announcement = form.save(commit=False)
                announcement.created_by = request.user
                announcement.save()
            count = announcement.recipients().count()
            messages.success(
                request,
                f"Posted “{announcement.title}”: {count} participant{'s' * (count != 1)} notified.",
            )
            return redirect("portal:announcements")
    context = {
        "announcements": Announcement.objects.select_related("created_by")[:20],
        "form": form,
        "may_post": may_post,
        "is_participant": participants().filter(pk=request.user.pk).exists(),
        "participant_names": list(
            participants().order_by("username").values_list("username", flat=True)
        ),
        "group": PARTICIPANTS_GROUP,
    }
    return render(request, "portal/announcements.html", context)
