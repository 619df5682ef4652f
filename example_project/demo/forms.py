from django import forms
from django.contrib.auth import get_user_model
from jobs.models import LeaveRequest
from organizations.models import Team

from django_notify import Priority
from django_notify.conf import app_settings


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        membership = getattr(obj, "membership", None)
        return f"{obj.username} ({membership.organization})" if membership else obj.username


class TeamChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return f"{obj.name} ({obj.organization})"


class SendForm(forms.Form):
    """Title, content and one target; the package's sender rules decide the rest.

    The user and team lists deliberately span every organization, so the demo can show
    the package refusing a send across organizations.
    """

    TARGETS = [
        ("self", "Myself"),
        ("user", "A user"),
        ("team", "A team"),
        ("organization", "My whole organization"),
        ("system", "Everyone (system-global)"),
    ]

    title = forms.CharField(max_length=255)
    description = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="A little HTML is allowed; it is sanitised.",
    )
    level = forms.ChoiceField(choices=lambda: list(app_settings.LEVELS.items()))
    priority = forms.TypedChoiceField(choices=Priority.choices, coerce=int, initial=Priority.NORMAL)
    target = forms.ChoiceField(choices=TARGETS, initial="self", widget=forms.RadioSelect)
    user = UserChoiceField(queryset=get_user_model().objects.none(), required=False)
    team = TeamChoiceField(queryset=Team.objects.none(), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["level"].initial = app_settings.DEFAULT_LEVEL
        self.fields["user"].queryset = (
            get_user_model()
            .objects.filter(is_active=True)
            .select_related("membership__organization")
            .order_by("username")
        )
        self.fields["team"].queryset = (
            Team.objects.filter(is_active=True)
            .select_related("organization")
            .order_by("organization__name", "name")
        )

    def clean(self):
        data = super().clean()
        target = data.get("target")
        for name in ("user", "team"):
            if target == name and not data.get(name) and name not in self.errors:
                self.add_error(name, f"Choose the {name} to notify.")
        return data


class LeaveForm(forms.ModelForm):
    """One's own leave on a job (the view fills in the user and the job)."""

    class Meta:
        model = LeaveRequest
        fields = ("first_day", "last_day")
        widgets = {
            "first_day": forms.DateInput(attrs={"type": "date"}),
            "last_day": forms.DateInput(attrs={"type": "date"}),
        }


class AlertForm(forms.Form):
    """A platform problem to raise, from a few realistic ones. The same choice raised
    again is the same problem (the default fingerprint: type and title)."""

    PROBLEMS = {
        "payments": (
            "integration",
            "error",
            "Payment provider timing out",
            "Card payments time out after 30 s at the payment provider.",
            ["payments"],
        ),
        "disk": (
            "capacity",
            "warning",
            "Disk usage above 85% on db-2",
            "Volume /var/lib/postgresql at 87%.",
            ["db-2"],
        ),
        "logins": (
            "security",
            "critical",
            "Repeated failed admin logins",
            "40 failed admin logins from 198.51.100.23 in five minutes.",
            ["auth"],
        ),
    }

    problem = forms.ChoiceField(
        choices=[(key, spec[2]) for key, spec in PROBLEMS.items()], initial="payments"
    )

    def alert_arguments(self) -> dict:
        alert_type, severity, title, message, systems = self.PROBLEMS[self.cleaned_data["problem"]]
        return {
            "alert_type": alert_type,
            "severity": severity,
            "title": title,
            "message": message,
            "affected_systems": systems,
            "meta_data": {"raised_from": "demo"},
        }
