"""Types of the test host app, found by django_notify's autodiscovery."""

import django_notify

TEAMS = django_notify.Category("teams", "Team events", "Membership changes.")


@django_notify.register
class TeamJoined(django_notify.NotificationType):
    key = "team.joined"
    id = 9001
    label = "Team joined"
    description = "Someone joined a team"
    category = TEAMS
    context = {"team": "The team that was joined"}
    title = "{actor} joined {team}"
