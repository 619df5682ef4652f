"""The widget's template tags: {% notify_bell %}, {% notify_unread_count %} and
{% notify_assets %} — their markup, their query cost, the widget's JSON config, and the
static files they point at."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.staticfiles import finders
from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet
from django.template import Context, Template
from django.test import RequestFactory
from django.urls import reverse

from django_notify import Priority, notify

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _static_url(settings):
    # tests/settings.py has no STATIC_URL; the tags render real URLs with one.
    settings.STATIC_URL = "/static/"


def render(source: str, user) -> str:
    request = RequestFactory().get("/")
    request.user = user
    return Template("{% load notify %}" + source).render(Context({"request": request}))


def config_of(html: str) -> dict:
    match = re.search(
        r'<script id="django-notify-config" type="application/json">(.*?)</script>', html, re.S
    )
    assert match, html
    return json.loads(match.group(1))


def badge_of(html: str) -> re.Match:
    match = re.search(r'<span class="notify-badge" data-notify-badge aria-hidden="true"( hidden)?>'
                      r"([^<]*)</span>", html)  # fmt: skip
    assert match, html
    return match


# --- the bell ------------------------------------------------------------------------------
@pytest.mark.parametrize(("unread", "text"), [(1, "1"), (9, "9"), (10, "9+"), (23, "9+")])
def test_bell_badge_shows_the_count_and_9_plus_above_nine(make_user, unread, text):
    user = make_user()
    notify([user], title="read, so not counted")[0].mark_read(user)
    for i in range(unread):
        notify([user], title=f"n{i}")
    html = render("{% notify_bell %}", user)
    hidden, shown = badge_of(html).groups()
    assert (hidden, shown) == (None, text)
    assert f'data-notify-unread="{unread}"' in html
    assert f'aria-label="Notifications, {unread} unread"' in html


def test_bell_badge_is_hidden_at_zero(make_user):
    user = make_user()
    notify([user], title="read already")[0].mark_read(user)
    html = render("{% notify_bell %}", user)
    hidden, shown = badge_of(html).groups()
    assert hidden == " hidden" and shown == ""
    assert 'aria-label="Notifications"' in html
    assert "data-notify-mark-all disabled" in html


def test_bell_markup_is_an_accessible_menu_button(make_user):
    user = make_user()
    for i in range(7):
        notify([user], title=f"row {i}")
    html = render("{% notify_bell %}", user)
    button = re.search(r"<button [^>]*data-notify-toggle[^>]*>", html).group(0)
    assert 'type="button"' in button
    assert 'aria-haspopup="true"' in button
    assert 'aria-expanded="false"' in button
    assert 'role="menu"' in html
    # The latest five, newest first, as menu items in role="none" rows.
    titles = re.findall(r'<span class="notify-item__title">([^<]*)</span>', html)
    assert titles == ["row 6", "row 5", "row 4", "row 3", "row 2"]
    assert html.count('role="menuitem"') == 5
    assert html.count('<li role="none"') == 5
    assert html.count('tabindex="-1" href=') == 5  # roving focus: the widget sets one to 0
    assert 'data-notify-dropdown tabindex="-1" hidden' in html


def test_bell_items_are_highlighted_and_colour_coded(make_user):
    user = make_user()
    low = notify([user], title="low one", priority=Priority.LOW)[0]
    notify([user], title="critical one", priority=Priority.CRITICAL)
    notify([user], title="high one", priority="high")
    low.mark_read(user)
    html = render("{% notify_bell %}", user)
    items = dict(
        (title, cls)
        for cls, title in re.findall(
            r'class="notify-item ([^"]*)".*?<span class="notify-item__title">([^<]*)</span>',
            html,
            re.S,
        )
    )
    assert items["low one"] == "notify-priority-low"
    assert items["critical one"] == "notify-priority-critical notify-item--unread"
    assert items["high one"] == "notify-priority-high notify-item--unread"
    assert '<span class="notify-pill notify-pill--critical">Critical</span>' in html
    assert "notify-pill--low" not in html  # only high and critical get a label
    assert html.count('<span class="notify-sr">, unread</span>') == 2


def test_bell_links_go_to_the_target_and_unsafe_links_are_dropped(make_user, Notification):
    user = make_user()
    notify([user], title="to a job", url="/jobs/3/")
    notify([user], title="act", action_url="https://example.com/act")
    bad = notify([user], title="bad link")[0]
    # A row written around the model's checks (raw SQL, a plain queryset): the tag still
    # refuses its link.
    QuerySet(model=Notification).filter(pk=bad.pk).update(url="javascript:alert(1)")
    html = render("{% notify_bell %}", user)
    page = reverse("django_notify:page-notifications")
    assert 'href="/jobs/3/" class="notify-item' in html
    assert 'data-notify-link="/jobs/3/"' in html
    assert 'href="https://example.com/act"' in html
    assert "javascript:" not in html
    bad_item = re.search(rf'<a [^>]*data-notify-id="{bad.pk}"[^>]*>', html).group(0)
    assert f'href="{page}"' in bad_item and 'data-notify-link=""' in bad_item


def test_bell_escapes_notification_text(make_user):
    user = make_user()
    notify(
        [user],
        title='<script>alert("t")</script>',
        body="<p>fine <b>bold</b></p><script>alert('b')</script><img src=x onerror=alert(1)>",
    )
    html = render("{% notify_bell %}{% notify_assets %}", user)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt;" in html
    # The dropdown shows the plain-text body, never the HTML one.
    assert "<b>bold</b>" not in html and "onerror" not in html
    assert re.search(r'<span class="notify-item__text">fine bold[^<]*</span>', html)


def test_bell_shows_the_empty_state(make_user):
    html = render("{% notify_bell %}", make_user())
    assert re.search(r"<p class=\"notify-dropdown__status\" data-notify-status>\s*"
                     r"No notifications yet\.</p>", html)  # fmt: skip
    assert 'role="menuitem"' not in html


def test_bell_without_items_leaves_the_dropdown_to_the_widget(make_user):
    user = make_user()
    notify([user], title="only in the badge")
    html = render("{% notify_bell items=0 %}", user)
    assert badge_of(html).group(2) == "1"
    assert "only in the badge" not in html
    assert "No notifications yet." not in html  # not known until the widget asks


def test_bell_renders_nothing_for_anonymous_users(db):
    assert render("{% notify_bell %}", AnonymousUser()).strip() == ""


def test_bell_label_and_page_links(make_user):
    html = render('{% notify_bell label="Alerts" %}', make_user())
    assert 'aria-label="Alerts"' in html and 'aria-label="Alerts" data-notify-menu' in html
    assert f'href="{reverse("django_notify:page-notifications")}" data-notify-view-all' in html
    assert f'href="{reverse("django_notify:page-preferences")}"' in html


# --- query cost ----------------------------------------------------------------------------
def _fill(user, make_user, count: int) -> None:
    """Rows with different senders, actors and targets: what would cost a query each."""
    for i in range(count):
        other = make_user()
        notify([user], title=f"row {i}", actor=other, target=other, priority=Priority.HIGH)


@pytest.mark.parametrize("rows", [0, 3, 12])
def test_tags_cost_a_constant_number_of_queries(make_user, django_assert_num_queries, rows):
    user = make_user()
    _fill(user, make_user, rows)
    with django_assert_num_queries(1):
        render("{% notify_unread_count as c %}{{ c }}", user)
    with django_assert_num_queries(2):  # the count and the latest five, nothing per row
        html = render("{% notify_bell %}", user)
    assert html.count('role="menuitem"') == min(rows, 5)
    with django_assert_num_queries(1):
        render("{% notify_bell items=0 %}", user)
    with django_assert_num_queries(0):
        render("{% notify_assets %}", user)


def test_unread_count_tag_still_returns_a_number(make_user):
    user = make_user()
    for i in range(12):
        notify([user], title=f"n{i}")
    assert render("{% notify_unread_count %}", user) == "12"
    assert render("{% notify_unread_count as c %}[{{ c|notify_badge }}]", user) == "[9+]"


# --- assets and the widget's config --------------------------------------------------------
def test_assets_render_the_stylesheet_script_and_config(make_user):
    html = render("{% notify_assets %}", make_user())
    assert '<link rel="stylesheet" href="/static/django_notify/notify.css">' in html
    assert '<script src="/static/django_notify/notify.js" defer></script>' in html
    assert html.index("django-notify-config") < html.index("notify.js")
    assert '<link rel="stylesheet"' not in render("{% notify_assets css=False %}", make_user())
    assert "notify.js" not in render("{% notify_assets js=False %}", make_user())


def test_config_has_the_routes_settings_and_csrf_names(make_user, settings, notify_settings):
    notify_settings(POLL_INTERVAL=12, STORM_THRESHOLD=7)
    settings.CSRF_COOKIE_NAME = "site_csrf"
    settings.CSRF_HEADER_NAME = "HTTP_X_SITE_CSRF"
    config = config_of(render("{% notify_assets %}", make_user()))
    urls = config["urls"]
    name = "django_notify:{}".format
    assert (
        urls["recent"] == reverse(name("api-recent")) == "/notifications/api/notifications/recent/"
    )
    assert urls["stream"] == reverse(name("stream")) == "/notifications/stream/"
    for key, route in {
        "list": "api-list",
        "unreadCount": "api-unread-count",
        "markRead": "api-mark-read",
        "markAllRead": "api-mark-all-read",
        "dismissAll": "api-dismiss-all",
        "stats": "api-stats",
        "preferences": "api-preferences",
        "preferencesReset": "api-preferences-reset",
        "alerts": "api-alerts",
        "alertStats": "api-alert-stats",
        "page": "page-notifications",
        "preferencesPage": "page-preferences",
    }.items():
        assert urls[key] == reverse(name(route)), key
    for key, route in {
        "detail": "api-detail",
        "read": "api-read",
        "unread": "api-unread",
        "dismiss": "api-dismiss",
        "alertResolve": "api-alert-resolve",
    }.items():
        assert "{id}" in urls[key], key
        assert urls[key].replace("{id}", "42") == reverse(name(route), args=[42]), key
    assert config["csrfCookieName"] == "site_csrf"
    assert config["csrfHeaderName"] == "X-SITE-CSRF"
    assert config["pollInterval"] == 12
    assert config["stormThreshold"] == 7
    assert config["stormWindow"] == 3
    assert config["dropdownLimit"] == 5
    assert len(config["csrfToken"]) == 64  # for sites whose CSRF cookie JS cannot read


def test_config_defaults_and_anonymous_pages(db):
    config = config_of(render("{% notify_assets %}", AnonymousUser()))
    assert config["csrfCookieName"] == "csrftoken"
    assert config["csrfHeaderName"] == "X-CSRFTOKEN"
    assert config["pollInterval"] == 30
    assert config["stormThreshold"] == 3
    assert "csrfToken" not in config


def test_config_cannot_end_its_script_element(make_user, settings):
    settings.CSRF_COOKIE_NAME = "</script><script>alert(1)</script>"
    html = render("{% notify_assets %}", make_user())
    assert "<script>alert(1)" not in html
    assert config_of(html)["csrfCookieName"] == settings.CSRF_COOKIE_NAME


def test_assets_without_the_package_urls_say_how_to_mount_them(make_user, settings):
    settings.ROOT_URLCONF = "tests.support.urls_without_notify"
    with pytest.raises(ImproperlyConfigured, match=r'include\("django_notify.urls"\)'):
        render("{% notify_assets %}", make_user())


@pytest.mark.parametrize(
    "path", ["django_notify/notify.js", "django_notify/notify.css", "django_notify/pages.js"]
)
def test_static_files_are_found_by_the_finders(path):
    found = finders.find(path)
    assert found, f"{path} is not found by STATICFILES_FINDERS"
    with open(found, encoding="utf-8") as handle:
        text = handle.read()
    assert len(text) > 1000


def test_widget_script_writes_text_as_text():
    """The one innerHTML in the scripts is the server-sanitised description."""
    for path in ("django_notify/notify.js", "django_notify/pages.js"):
        with open(finders.find(path), encoding="utf-8") as handle:
            code = handle.read()
        assignments = re.findall(r"\.(innerHTML|outerHTML)\s*=\s*([^;]+);", code)
        allowed = [("innerHTML", "item.description")]
        assert assignments == (allowed if path.endswith("pages.js") else []), (path, assignments)
        assert "insertAdjacentHTML" not in code and "document.write" not in code


def test_notify_priority_filter():
    from django_notify.templatetags.notify import notify_priority

    assert notify_priority(40) == "critical"
    assert notify_priority(Priority.LOW) == "low"
    assert notify_priority("high") == "high"
    assert notify_priority("nonsense") == "normal"
    assert notify_priority(None) == "normal"


def test_safe_link_filter():
    from django_notify.templatetags.notify import notify_safe_link

    assert notify_safe_link("/jobs/1/") == "/jobs/1/"
    assert notify_safe_link("https://example.com/") == "https://example.com/"
    for bad in ("javascript:alert(1)", "//evil.example/", "/\\evil", "data:text/html,x", None):
        assert notify_safe_link(bad) == ""


def test_config_carries_the_scripts_texts_and_the_script_has_fallbacks(make_user):
    """Texts the scripts write come translated from the server; notify.js keeps English
    fallbacks for exactly the same keys."""
    from django_notify.templatetags.notify import MESSAGES

    config = config_of(render("{% notify_assets %}", make_user()))
    assert config["messages"] == {key: str(text) for key, text in MESSAGES.items()}
    assert config["messages"]["storm"] == "%(count)s new notifications"
    with open(finders.find("django_notify/notify.js"), encoding="utf-8") as handle:
        code = handle.read()
    block = re.search(r"const MESSAGES = \{(.*?)\n  \};", code, re.S).group(1)
    fallbacks = dict(re.findall(r'^\s+(\w+): "([^"]*)",$', block, re.M))
    assert fallbacks == {key: str(text) for key, text in MESSAGES.items()}
    used = set(re.findall(r'\bt\("(\w+)"[,)]', code))
    with open(finders.find("django_notify/pages.js"), encoding="utf-8") as handle:
        used |= set(re.findall(r'notify\.t\("(\w+)"[,)]', handle.read()))
    assert used <= set(MESSAGES), used - set(MESSAGES)
