"""The site's templates: pages render, forms are accessible, nothing loads from a CDN."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.contrib import messages
from django.test import Client, override_settings
from django.urls import reverse

from accounts.models import User
from tests.billing_helpers import turl
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ANONYMOUS_PAGES = [
    "home",
    "pricing",
    "account_login",
    "account_signup",
    "account_reset_password",
]
USER_PAGES = [
    "home",
    "pricing",
    "billing",
    "app_home",
    "account_email",
    "account_change_password",
    "mfa_index",
    "account_profile",
]


class PageParser(HTMLParser):
    """Collects what the accessibility and CSP checks need from one page."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[dict[str, str | None]] = []
        self.label_for: set[str] = set()
        self.inline_scripts = 0
        # What style-src 'self' / script-src 'self' refuse: style="", <style>, onclick="".
        self.inline_styles: list[str] = []
        self.inline_handlers: list[str] = []
        self.asset_urls: list[str] = []
        self.forms: list[dict[str, str | None]] = []
        self.submit_buttons: list[str] = []
        self._in_button = False
        self._button_text = ""
        self._in_inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if "style" in a:
            self.inline_styles.append(f"<{tag} style={a['style']!r}>")
        self.inline_handlers.extend(f"<{tag} {k}=...>" for k in a if k.startswith("on"))
        if tag == "style":
            self.inline_styles.append("<style>")
        elif tag in ("input", "select", "textarea"):
            self.inputs.append({"tag": tag, **a})
        elif tag == "label" and a.get("for"):
            self.label_for.add(a["for"] or "")
        elif tag == "script":
            if a.get("src"):
                self.asset_urls.append(a["src"] or "")
            elif a.get("type") != "application/json":
                self._in_inline_script = True
        elif tag == "link" and a.get("href"):
            self.asset_urls.append(a["href"] or "")
        elif tag == "img" and a.get("src"):
            self.asset_urls.append(a["src"] or "")
        elif tag == "form":
            self.forms.append(a)
        elif tag == "button":
            self._in_button = True
            self._button_text = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "button" and self._in_button:
            self._in_button = False
            self.submit_buttons.append(" ".join(self._button_text.split()))
        elif tag == "script" and self._in_inline_script:
            self._in_inline_script = False
            self.inline_scripts += 1

    def handle_data(self, data: str) -> None:
        if self._in_button:
            self._button_text += data


def parse(html: str) -> PageParser:
    parser = PageParser()
    parser.feed(html)
    return parser


def make_user(**kwargs: object) -> User:
    """A saved user with a verified primary email (typed for mypy)."""
    user = UserFactory(**kwargs)
    assert isinstance(user, User)
    return user


@pytest.fixture
def user_client(client: Client) -> Client:
    client.force_login(make_user())
    return client


def assert_page_is_self_contained(html: str) -> None:
    page = parse(html)
    for url in page.asset_urls:
        assert not re.match(r"^(https?:)?//", url), f"external asset {url}"
    assert page.inline_scripts == 0, "inline <script> breaks a strict CSP"
    assert page.inline_styles == [], "inline styles break a strict CSP"
    assert page.inline_handlers == [], "inline event handlers break a strict CSP"


def assert_every_input_is_labelled(html: str) -> None:
    page = parse(html)
    for field in page.inputs:
        if field.get("type") in ("hidden", "submit"):
            continue
        assert field.get("id"), f"input without id: {field}"
        assert field["id"] in page.label_for, f"input without a label: {field}"


@pytest.mark.parametrize("name", ANONYMOUS_PAGES)
def test_anonymous_pages_render_with_labels_and_no_cdn(client: Client, name: str) -> None:
    response = client.get(reverse(name))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="en">' in html
    assert 'name="viewport"' in html
    assert "/static/bootstrap/css/bootstrap.min.css" in html
    assert_page_is_self_contained(html)
    assert_every_input_is_labelled(html)
    assert "</footer>" in html


@pytest.mark.parametrize("name", USER_PAGES)
def test_user_pages_render_with_labels_and_no_cdn(user_client: Client, name: str) -> None:
    # Team pages (billing, the app) through their team-less URLs: on to the personal team.
    response = user_client.get(reverse(name), follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert_page_is_self_contained(html)
    assert_every_input_is_labelled(html)


def test_pending_email_change_page_has_no_inline_style(client: Client) -> None:
    """allauth's stock page hides the pending address's form with style="display: none"."""
    from allauth.account.models import EmailAddress

    user = make_user(email="old@example.com")
    EmailAddress.objects.create(user=user, email="new@example.com", primary=False, verified=False)
    client.force_login(user)
    html = client.get(reverse("account_email")).content.decode()
    assert "new@example.com" in html
    assert_page_is_self_contained(html)
    form = [f for f in parse(html).forms if f.get("id") == "pending-email"]
    assert form, "the Re-send / Cancel buttons submit the pending-email form"
    assert "hidden" in form[0]


def test_totp_activation_page_shows_the_qr_code_as_a_data_image(client: Client) -> None:
    """The one image the policy's `img-src data:` is for besides Bootstrap's CSS."""
    client.force_login(make_user())
    # allauth asks for the password again before adding MFA.
    client.post(reverse("account_reauthenticate"), {"password": "correct horse battery staple"})
    response = client.get(reverse("mfa_activate_totp"))
    assert response.status_code == 200, response
    html = response.content.decode()
    assert 'src="data:image/svg+xml;base64,' in html
    assert_page_is_self_contained(html)


def test_home_calls_anonymous_visitors_to_sign_up(client: Client) -> None:
    html = client.get(reverse("home")).content.decode()
    assert f'href="{reverse("account_signup")}"' in html
    assert f'href="{reverse("pricing")}"' in html
    assert "Go to app" not in html
    assert f'href="{reverse("billing")}"' not in html


def test_home_sends_signed_in_users_to_the_app(user_client: Client) -> None:
    html = user_client.get(reverse("home")).content.decode()
    assert "Go to app" in html
    assert f'href="{reverse("app_home")}"' in html
    assert f'href="{reverse("account_login")}"' not in html


def test_logout_is_a_post_form_with_csrf(user_client: Client) -> None:
    html = user_client.get(reverse("home")).content.decode()
    forms = [f for f in parse(html).forms if f.get("action") == reverse("account_logout")]
    assert forms, "the navbar needs a logout form"
    assert all((f.get("method") or "").lower() == "post" for f in forms)
    logout_form = html.split(f'action="{reverse("account_logout")}"', 1)[1].split("</form>")[0]
    assert 'name="csrfmiddlewaretoken"' in logout_form


def test_admin_link_only_for_staff(client: Client) -> None:
    admin_href = f'href="{reverse("admin:index")}"'
    client.force_login(make_user())
    assert admin_href not in client.get(reverse("home")).content.decode()
    client.force_login(make_user(is_staff=True))
    assert admin_href in client.get(reverse("home")).content.decode()


def test_app_home_shows_the_account_email(client: Client) -> None:
    user = make_user(email="dana@example.com")
    client.force_login(user)
    html = client.get(turl(user, "app_home")).content.decode()
    assert "dana@example.com" in html
    assert f'href="{turl(user, "billing")}"' in html


def test_billing_placeholder_links_to_pricing(user_client: Client) -> None:
    html = user_client.get(turl(user_client, "billing")).content.decode()
    assert "You have no subscription yet" in html
    assert f'href="{reverse("pricing")}"' in html


@pytest.mark.parametrize("emulator", [True, False])
def test_test_mode_banner_follows_the_emulator_setting(client: Client, emulator: bool) -> None:
    with override_settings(STRIPE_EMULATOR=emulator):
        html = client.get(reverse("home")).content.decode()
    assert ("offline Stripe emulator" in html) is emulator


def test_allauth_pages_use_the_site_layout(client: Client) -> None:
    html = client.get(reverse("account_login")).content.decode()
    page = parse(html)
    assert "entrance-card" in html
    assert 'class="form-control' in html
    assert "Sign In" in page.submit_buttons
    # allauth's login asks for unlabelled fields; the site keeps visible labels.
    assert 'for="id_login"' in html
    assert 'for="id_password"' in html


def test_account_pages_have_the_settings_navigation(user_client: Client) -> None:
    html = user_client.get(reverse("account_change_password")).content.decode()
    assert "account-nav" in html
    assert f'href="{reverse("account_email")}"' in html
    assert f'href="{reverse("mfa_index")}"' in html
    assert 'aria-current="page"' in html


def test_form_errors_are_shown_on_the_field(client: Client) -> None:
    response = client.post(reverse("account_signup"), {"email": "not-an-email"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "is-invalid" in html
    assert "invalid-feedback" in html
    assert 'aria-invalid="true"' in html


def test_messages_render_as_dismissible_bootstrap_alerts(client: Client) -> None:
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.template.loader import render_to_string
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.session = client.session
    storage = FallbackStorage(request)
    request._messages = storage  # type: ignore[attr-defined]
    messages.error(request, "Card declined")
    messages.success(request, "Saved")
    html = render_to_string("includes/messages.html", {"messages": storage}, request=request)
    assert "alert alert-danger alert-dismissible" in html
    assert "alert alert-success alert-dismissible" in html
    assert 'data-bs-dismiss="alert"' in html


# --- Wording --------------------------------------------------------------------------

# One spelling, Stripe's: "canceled".
_BRITISH_CANCEL = re.compile(r"cancell?ed", re.IGNORECASE)


def _cancelled(text: str) -> list[str]:
    return [m for m in _BRITISH_CANCEL.findall(text) if m.lower() == "cancelled"]


def test_pages_say_canceled_as_stripe_does(client: Client) -> None:
    page = client.get(reverse("pricing")).content.decode()
    assert "A canceled plan keeps working" in page
    assert not _cancelled(page)


def test_billing_page_says_canceled_as_stripe_does(user_client: Client) -> None:
    from tests.billing_helpers import give_plan

    user = User.objects.get()
    give_plan(user, cancel_at_period_end=True)
    page = user_client.get(turl(user, "billing")).content.decode()
    assert "canceled" in page.lower()
    assert not _cancelled(page)


def test_readme_and_templates_say_canceled_as_stripe_does() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    files = [
        root / "README.md",
        *sorted((root / "templates").rglob("*.*")),
        *sorted((root / "subscriptions").glob("*.py")),
    ]
    mentions = {
        str(path.relative_to(root)): found
        for path in files
        if (found := _cancelled(path.read_text()))
    }
    assert mentions == {}
