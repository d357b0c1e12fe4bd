"""Billing tests run against the real emulator over HTTP, bootstrapped from the catalog."""

from __future__ import annotations

import html
import json
import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper
from stripe_emulator import EmulatorServer

from saas.stripe_bases import stripe_bases_restore, stripe_bases_route
from subscriptions.bootstrap import billing_bootstrap
from tests.billing_helpers import tpath


@dataclass
class Billing:
    """Drives the emulator like a customer in a browser would, through its helper API."""

    url: str

    def helper(self, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=json.dumps(body or {}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    @staticmethod
    def session_id(checkout_url: str) -> str:
        match = re.search(r"(cs_[A-Za-z0-9_]+)", checkout_url)
        assert match, checkout_url
        return match.group(1)

    def complete_checkout(self, checkout_url: str, **body: Any) -> tuple[int, dict[str, Any]]:
        return self.helper(
            f"/_emulator/checkout/sessions/{self.session_id(checkout_url)}/complete", body
        )

    def subscribe(
        self, client: Client, price: str, card: str | None = "4242424242424242", **extra: Any
    ) -> str:
        """Checkout through the app and the emulator; returns the success page path."""
        response = client.post(tpath(client, "/billing/checkout/"), {"price": price})
        assert response.status_code == 303, response.content[:500]
        body: dict[str, Any] = {**extra}
        if card is not None:
            body["card"] = card
        status, result = self.complete_checkout(response["Location"], **body)
        assert status == 200, result
        assert result["status"] == "complete", result
        redirect = urlsplit(result["redirect_url"])
        assert parse_qs(redirect.query)["session_id"][0].startswith("cs_")
        return f"{redirect.path}?{redirect.query}"


def _billing(
    stripe_emulator: EmulatorServer, settings: SettingsWrapper, site_url: str
) -> Iterator[Billing]:
    stripe_emulator.emulator.dispatcher.wait_idle(5)
    stripe_emulator.emulator.reset()
    url = stripe_emulator.url
    settings.STRIPE_API_BASE = url
    settings.STRIPE_API_HOST = url
    settings.SITE_URL = site_url
    saved_bases = stripe_bases_route(base=url)
    billing_bootstrap(site_url=site_url)
    yield Billing(url=url)
    stripe_bases_restore(saved=saved_bases)


@pytest.fixture
def billing(
    stripe_emulator: EmulatorServer, settings: SettingsWrapper, db: None
) -> Iterator[Billing]:
    """A clean emulator with the catalog bootstrapped into it and mirrored locally.

    Its webhooks go nowhere (port 9 is discard): tests sync explicitly.
    """
    yield from _billing(stripe_emulator, settings, "http://127.0.0.1:9")


@pytest.fixture
def live_billing(
    stripe_emulator: EmulatorServer,
    settings: SettingsWrapper,
    transactional_db: None,
    live_server: Any,
) -> Iterator[Billing]:
    """Like ``billing``, but the emulator delivers webhooks to a live server of the app."""
    yield from _billing(stripe_emulator, settings, live_server.url)


class _SameHostRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects inside the emulator; stop at one that leaves it (back to the app)."""

    def redirect_request(
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> Any:
        if urlsplit(newurl).netloc != urlsplit(req.full_url).netloc:
            raise _LeftEmulator(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _LeftEmulator(Exception):
    def __init__(self, url: str) -> None:
        self.url = url


_opener = urllib.request.build_opener(_SameHostRedirects)


class HostedPage:
    """Submits the emulator's hosted HTML forms the way a browser would (no JavaScript).

    ``left_to`` is set when the page redirected back to the app (a return URL).
    """

    def __init__(self, url: str, data: bytes | None = None) -> None:
        self.left_to: str | None = None
        request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
        try:
            with _opener.open(request, timeout=30) as response:
                self.url = response.geturl()
                self.html = response.read().decode()
        except _LeftEmulator as left:
            self.url, self.html, self.left_to = url, "", left.url

    def link(self, text: str) -> HostedPage:
        match = re.search(rf'<a [^>]*href="([^"]+)"[^>]*>\s*{re.escape(text)}\s*</a>', self.html)
        assert match, f"no link {text!r} on {self.url}"
        return HostedPage(urllib.parse.urljoin(self.url, html.unescape(match.group(1))))

    def submit(self, button: str, **fields: str) -> HostedPage:
        """Submit the form that contains ``button`` with its hidden inputs plus ``fields``."""
        for form in re.finditer(r"<form\b([^>]*)>(.*?)</form>", self.html, re.S):
            attrs, body = form.group(1), form.group(2)
            if re.search(rf">\s*{re.escape(button)}\s*<", body) is None:
                continue
            action = re.search(r'action="([^"]*)"', attrs)
            method = re.search(r'method="([^"]*)"', attrs)
            target = urllib.parse.urljoin(
                self.url, html.unescape(action.group(1)) if action else self.url
            )
            values = {
                m.group(1): html.unescape(m.group(2))
                for m in re.finditer(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', body)
            }
            values.update(fields)
            encoded = urllib.parse.urlencode(values)
            if method and method.group(1).lower() == "get":
                return HostedPage(f"{target}?{encoded}")
            return HostedPage(target, encoded.encode())
        raise AssertionError(f"no form with button {button!r} on {self.url}")
