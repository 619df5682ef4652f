from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views
from .seed import PASSWORD, USERS
from .tour import TOUR

urlpatterns = [
    path("", views.home, name="home"),
    path("send/", views.send, name="send"),
    path("notifications/<int:pk>/read/", views.mark_read, name="mark-read"),
    path("notifications/<int:pk>/dismiss/", views.dismiss, name="dismiss"),
    path("notifications/read-all/", views.mark_all_read, name="mark-all-read"),
    path("notifications/dismiss-all/", views.dismiss_all, name="dismiss-all"),
    path("jobs/", views.jobs, name="jobs"),
    path("jobs/<int:pk>/", views.job_detail, name="job-detail"),
    path("jobs/<int:pk>/status/", views.job_status, name="job-status"),
    path("jobs/<int:pk>/leave/", views.leave_create, name="leave-create"),
    path("jobs/<int:pk>/client-renewal/", views.client_renewal, name="client-renewal"),
    path("phases/<int:pk>/status/", views.phase_status, name="phase-status"),
    path("leave/<int:pk>/decide/", views.leave_decide, name="leave-decide"),
    path("alerts/", views.alerts_page, name="alerts"),
    path("portal/", include("portal.urls")),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            redirect_authenticated_user=True,
            extra_context={"demo_users": USERS, "demo_password": PASSWORD, "tour": TOUR},
        ),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
]
