import pytest
from django.template import Context, Template
from django.test import RequestFactory

from django_notify import notify


@pytest.mark.parametrize(("count", "text"), [(0, ""), (1, "1"), (9, "9"), (10, "9+"), (250, "9+")])
def test_badge(count, text):
    from django_notify.templatetags.notify import notify_badge

    assert notify_badge(count) == text


def test_feed_and_count_tags_escape_titles(make_user, Notification):
    user = make_user()
    other = make_user()
    notify([user], title="<i>t1</i>", body="<b>bold</b><script>x</script>")
    notify([user], title="second")
    notify([other], title="not mine")
    request = RequestFactory().get("/")
    request.user = user
    html = Template(
        "{% load notify %}{% notify_unread_count as c %}[{{ c|notify_badge }}]"
        "{% notify_feed 5 as items %}{% notify_list items %}"
    ).render(Context({"request": request}))
    assert "[2]" in html
    assert "&lt;i&gt;t1&lt;/i&gt;" in html
    assert "<b>bold</b>" in html and "<script" not in html
    assert "not mine" not in html
    assert html.count("notify-unread") == 2
