from django import forms
from django.contrib.auth import get_user_model
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
