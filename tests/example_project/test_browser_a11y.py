"""The widget and the notification centre in every theme, colour mode and viewport, in
Debian's headless Chromium on the example site (wiring in tests/support/browser_support.py).

- forced colours (Windows high contrast): a preference switch shows on and off;
- a site that does not set the theme attribute, on a system in dark (or light) mode: the
  widget's text and the background under it come from the same scheme;
- a phone (390 px): the dropdown stays on screen, the preferences fit their card and every
  control can be reached;
- contrast: pills and secondary text reach WCAG AA (4.5:1);
- axe-core on every page (bell dropdown open, notifications, alerts, preferences with an
  error shown, unsubscribe, the example's own pages) in light, dark with and without the
  theme attribute, forced colours and at 390 px: no serious or critical violation.

Needs what test_browser.py needs, plus axe-core (``axe-playwright-python`` ships it; read
from disk, never fetched). Run with ``pytest -m browser``.
"""

from __future__ import annotations

import base64

import pytest

from django_notify import Priority, notify
from tests.support.browser_support import (  # noqa: F401 - the fixtures
    axe_violations,
    each_browser_test,
    new_page,
    screenshot,
    site_fixture,
    visit,
)

try:  # the browser tox env installs it; without it these tests skip (or fail, if required)
    from playwright.sync_api import expect
except ImportError:
    expect = None

pytestmark = pytest.mark.browser
live_db = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}
AA = 4.5

#: The WCAG contrast ratio of an element's text against what is painted under it: the
#: backgrounds of its ancestors, composited, up to the first opaque one.
CONTRAST = """(el) => {
  const parse = (value) => {
    let m = /^rgba?\\(([^)]+)\\)/.exec(value);
    if (m) {
      const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
      return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
    }
    m = /^color\\(srgb ([^)]+)\\)/.exec(value);
    if (m) {
      const p = m[1].split(/[ /]+/).filter(Boolean).map(Number);
      return [p[0] * 255, p[1] * 255, p[2] * 255, p.length > 3 ? p[3] : 1];
    }
    throw new Error("unparsed colour " + value);
  };
  const over = (top, under) =>
    [0, 1, 2].map((i) => top[i] * top[3] + under[i] * (1 - top[3])).concat([1]);
  const layers = [];
  for (let node = el; node; node = node.parentElement) {
    const bg = parse(getComputedStyle(node).backgroundColor);
    if (bg[3] > 0) layers.push(bg);
    if (bg[3] >= 1) break;
  }
  let bg = [255, 255, 255, 1];
  for (const layer of layers.reverse()) bg = over(layer, bg);
  const fg = over(parse(getComputedStyle(el).color), bg);
  const lum = (c) => {
    const [r, g, b] = c.slice(0, 3).map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
  return Math.round(((hi + 0.05) / (lo + 0.05)) * 100) / 100;
}"""

#: How many pixels of a PNG differ from its top-left pixel (decoded by the page's canvas).
INK = """async (data) => {
  const image = new Image();
  image.src = "data:image/png;base64," + data;
  await image.decode();
  const canvas = document.createElement("canvas");
  canvas.width = image.width;
  canvas.height = image.height;
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  const pixels = context.getImageData(0, 0, image.width, image.height).data;
  let ink = 0;
  for (let i = 0; i < pixels.length; i += 4) {
    let distance = 0;
    for (let c = 0; c < 3; c++) distance += Math.abs(pixels[i + c] - pixels[c]);
    if (distance > 60) ink++;
  }
  return ink;
}"""


def contrast(locator) -> float:
    # A node the widget re-renders meanwhile has no computed style: ask the new one.
    for _attempt in range(3):
        try:
            return locator.evaluate(CONTRAST)
        except Exception as exc:  # noqa: BLE001 - Playwright's Error, or ImportError's None
            if "unparsed colour" not in str(exc):
                raise
            locator.page.wait_for_timeout(200)
    return locator.evaluate(CONTRAST)


def set_theme(page, theme: str | None) -> None:
    """The example site says ``data-theme="light"``; a site may say dark, or nothing."""
    if theme is None:
        page.evaluate("document.documentElement.removeAttribute('data-theme')")
    else:
        page.evaluate(f"document.documentElement.setAttribute('data-theme', {theme!r})")


def open_bell(page):
    bell = page.locator("[data-notify-bell]").first
    bell.locator("[data-notify-toggle]").click()
    dropdown = bell.locator("[data-notify-dropdown]")
    expect(dropdown).to_be_visible()
    expect(bell.get_by_role("menuitem").first).to_be_visible()
    return dropdown


def some_notifications(user) -> None:
    notify([user], title="Nightly build passed", priority=Priority.LOW)
    notify([user], title="Quarterly report is ready", body="Q3 figures are in.")
    notify([user], title="Disk space on db-1 below 10%", priority=Priority.HIGH)
    notify(
        [user],
        title="Payment provider unreachable",
        body="Checkout is failing for every customer.",
        priority=Priority.CRITICAL,
        action_required=True,
    )
    notify([user], title="Welcome to the notification centre", url="/jobs/")


def some_alerts() -> None:
    from django_notify import alerts

    for severity, title in [
        ("info", "Maintenance window tonight"),
        ("warning", "Disk usage above 85% on db-1"),
        ("error", "Backups failed on db-2"),
        ("critical", "Repeated failed admin logins"),
    ]:
        alerts.raise_alert("ops", severity, title, "Details of the alert.")


# --- 1. forced colours ---------------------------------------------------------------------


@live_db
def test_in_forced_colors_a_switch_shows_whether_it_is_on(site, make_user):
    ada = make_user(username="ada")
    page = visit(new_page(site, ada, forced_colors="active"), "/notifications/preferences/")
    on = page.get_by_role("switch", name="In-app: Job Created")
    off = page.get_by_role("switch", name="Email: Job Status Change")
    expect(on).to_be_checked()
    expect(off).not_to_be_checked()
    page.mouse.move(0, 0)
    tracks = []
    for switch in (on, off):
        track = switch.locator("xpath=following-sibling::span[1]")
        png = track.screenshot(animations="disabled")
        tracks.append(png)
        # The switch is drawn at all: not only its focus ring, which is not shown here.
        ink = page.evaluate(INK, base64.b64encode(png).decode())
        assert ink > 20, f"a switch is invisible in forced colours ({ink} pixels of ink)"
    assert tracks[0] != tracks[1], "on and off look the same in forced colours"
    screenshot(page, "preferences-forced-colors")


# --- 2. no theme attribute -----------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["dark", "light"])
@live_db
def test_without_the_theme_attribute_text_and_background_share_a_scheme(site, make_user, scheme):
    ada = make_user(username="ada", staff=True)
    some_notifications(ada)
    page = visit(new_page(site, ada, color_scheme=scheme), "/notifications/")
    set_theme(page, None)
    expect(page.locator("[data-notify-rows] > .notify-row")).to_have_count(5)
    checks = {
        "page title": page.get_by_role("heading", name="Notifications"),
        "select all": page.locator(".notify-check", has_text="Select all"),
        "stat label": page.locator(".notify-stat__label").first,
        "row meta": page.locator(".notify-row__meta").first,
        "filter label": page.locator(".notify-field > span").first,
    }
    low = {name: contrast(node) for name, node in checks.items()}
    dropdown = open_bell(page)
    low["dropdown title"] = contrast(dropdown.locator(".notify-dropdown__title"))
    low["dropdown meta"] = contrast(dropdown.locator(".notify-item__meta").first)
    screenshot(page, f"notifications-{scheme}-no-theme-attribute")
    low = {name: ratio for name, ratio in low.items() if ratio < AA}
    assert low == {}, f"text below {AA}:1 without the theme attribute ({scheme}): {low}"


# --- 3. a phone ----------------------------------------------------------------------------


@live_db
def test_on_a_phone_the_dropdown_and_the_preferences_fit(site, make_user):
    ada = make_user(username="ada")
    some_notifications(ada)
    page = visit(new_page(site, ada, viewport=PHONE))
    box = open_bell(page).bounding_box()
    screenshot(page, "dropdown-phone")
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box

    visit(page, "/notifications/preferences/")
    screenshot(page, "preferences-phone", full_page=True)
    overflow = page.evaluate(
        """() => [...document.querySelectorAll(".notify-prefs")].map((table) => {
            const card = table.parentElement;
            return card.scrollWidth - card.clientWidth;
        })"""
    )
    assert overflow and max(overflow) <= 0, f"a preferences table overflows its card: {overflow}"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    for control in page.locator("[data-notify-frequency], [data-notify-enabled]").all():
        control.scroll_into_view_if_needed()
        box = control.bounding_box() or control.locator("..").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    # A row keeps a usable width: its label is not squeezed into a narrow column.
    widths = page.locator(".notify-prefs__label").evaluate_all(
        "(nodes) => nodes.map((node) => node.getBoundingClientRect().width)"
    )
    assert widths and min(widths) >= 200, widths
    status_frequency = page.get_by_label("Email frequency: Job Status Change")
    page.get_by_role("switch", name="Email: Job Status Change").locator(
        "xpath=ancestor::label[1]"
    ).click()
    status_frequency.select_option("daily")
    expect(status_frequency).to_have_value("daily")


# --- 4. contrast ---------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["light", "dark"])
@live_db
def test_pills_and_secondary_text_reach_aa(site, make_user, scheme):
    ada = make_user(username="ada", staff=True)
    some_notifications(ada)
    some_alerts()
    page = visit(new_page(site, ada, color_scheme=scheme), "/notifications/?tab=alerts")
    set_theme(page, scheme)
    expect(page.locator("[data-notify-alert-rows] > .notify-alert")).to_have_count(4)
    selectors = [
        "[data-notify-alert-rows] .notify-pill",
        "[data-notify-alert-rows] .notify-row__meta",
        ".notify-stat__label",
        ".notify-muted",
    ]
    ratios = {}
    for selector in selectors:
        for node in page.locator(selector).all():
            if node.is_visible():
                ratios[f"{selector} {node.inner_text()[:30]!r}"] = contrast(node)
    page.get_by_role("tab", name="Notifications").click()
    expect(page.locator("[data-notify-rows] > .notify-row")).to_have_count(5)
    for selector in [".notify-row .notify-pill", ".notify-row--unread .notify-row__meta"]:
        for node in page.locator(selector).all():
            ratios[f"{selector} {node.inner_text()[:30]!r}"] = contrast(node)
    assert ratios
    low = {name: ratio for name, ratio in ratios.items() if ratio < AA}
    assert low == {}, f"below {AA}:1 ({scheme}): {low}"


# --- 5. axe-core everywhere ----------------------------------------------------------------

#: Under forced colours the user's palette, not the page, decides every colour, and axe's
#: contrast rule reads the author's colours against forced backgrounds (false alarms on
#: the example's header): it is left out there; the switch test above checks that mode.
MODES = {
    "light": {"context": {"color_scheme": "light"}, "theme": "light"},
    "dark": {"context": {"color_scheme": "dark"}, "theme": "dark"},
    "dark-no-theme-attribute": {"context": {"color_scheme": "dark"}, "theme": None},
    "forced-colors": {
        "context": {"forced_colors": "active"},
        "theme": "light",
        "skip": ("color-contrast",),
    },
    "phone": {"context": {"viewport": PHONE}, "theme": "light"},
}


@pytest.mark.parametrize("mode", list(MODES))
@live_db
def test_axe_finds_no_serious_violation(site, make_user, mode):
    from django_notify.delivery.unsubscribe import make_token

    options, theme = MODES[mode]["context"], MODES[mode]["theme"]
    ada = make_user(username="ada", staff=True, superuser=True)
    some_notifications(ada)
    some_alerts()
    found: dict[str, list] = {}

    def check(page, name: str, **kwargs) -> None:
        violations = axe_violations(page, skip=MODES[mode].get("skip", ()), **kwargs)
        if violations:
            found[name] = violations
            screenshot(page, f"axe-{mode}-{name}")

    page = visit(new_page(site, ada, **options))
    set_theme(page, theme)
    notify([ada], title="A toast for the checker", body="It arrives live.")
    expect(page.locator("[data-notify-toasts] .notify-toast")).to_have_count(1)
    open_bell(page)
    check(page, "home-dropdown-toast")

    visit(page, "/notifications/")
    set_theme(page, theme)
    expect(page.locator("[data-notify-rows] > .notify-row")).to_have_count(6)
    page.locator("[data-notify-rows] input[type=checkbox]").first.check()
    check(page, "notifications")

    page.get_by_role("tab", name="Alerts").click()
    expect(page.locator("[data-notify-alert-rows] > .notify-alert")).to_have_count(4)
    check(page, "alerts")

    visit(page, "/notifications/preferences/")
    set_theme(page, theme)
    page.get_by_label("From", exact=True).fill("22:00")  # and no end: an error
    page.get_by_role("button", name="Save preferences").click()
    expect(page.locator('[data-notify-error-for="quiet_hours"]')).to_be_visible()
    check(page, "preferences-error")

    visit(page, "/jobs/")
    set_theme(page, theme)
    check(page, "jobs")

    visit(page, "/admin/")
    open_bell(page)
    check(page, "admin-bell", context=".notify-admin")

    anonymous = new_page(site, **options)
    token = make_token(ada, ["job.status_changed", "job.created"], "email")
    anonymous.goto(f"/notifications/unsubscribe/{token}/")
    check(anonymous, "unsubscribe")
    anonymous.get_by_role("button", name="Unsubscribe").click()
    expect(anonymous.get_by_role("heading", name="Unsubscribed")).to_be_visible()
    check(anonymous, "unsubscribed")
    anonymous.goto("/accounts/login/")
    set_theme(anonymous, theme)
    check(anonymous, "login")

    assert found == {}, "\n".join(
        f"{name}: {violation}" for name, violations in found.items() for violation in violations
    )


# --- words, not keys -----------------------------------------------------------------------


@live_db
def test_the_error_banner_and_the_unsubscribe_page_name_things_by_their_labels(site, make_user):
    from django_notify.delivery.unsubscribe import make_token

    ada = make_user(username="ada")
    page = visit(new_page(site, ada), "/notifications/preferences/")
    page.get_by_label("From", exact=True).fill("22:00")  # and no end
    page.get_by_role("button", name="Save preferences").click()
    banner = page.locator("[data-notify-error]")
    expect(banner).to_contain_text("Quiet hours – Until: ")
    expect(banner).not_to_contain_text("quiet_hours")

    page.goto(f"/notifications/unsubscribe/{make_token(ada, ['job.status_changed'], 'email')}/")
    expect(page.get_by_text("Stop receiving these messages")).to_have_text(
        "Stop receiving these messages on Email: Job Status Change."
    )
