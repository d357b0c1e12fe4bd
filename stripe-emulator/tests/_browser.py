"""A tiny form-posting "browser" for the emulator's hosted pages (stdlib only).

It does what a browser does with these pages and nothing more: GET a page,
read its form (action, hidden token), POST url-encoded fields, and report the
status, Location header and HTML. Redirects are not followed automatically so
tests can assert on them; `follow()` does it on request.
"""

from __future__ import annotations

import html
import http.client
import re
from dataclasses import dataclass
from urllib.parse import urlencode, urljoin, urlsplit


@dataclass
class Page:
    url: str
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def location(self) -> str:
        return self.headers.get("location", "")

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def token(self) -> str:
        m = re.search(r'name="token" value="([^"]+)"', self.text)
        assert m, "no form token on the page"
        return m.group(1)

    def visible_text(self) -> str:
        """The page's text without tags (style blocks dropped), whitespace collapsed."""
        raw = re.sub(r"<style>.*?</style>", " ", self.text, flags=re.S)
        raw = re.sub(r"<[^>]+>", " ", raw)
        return re.sub(r"\s+", " ", html.unescape(raw)).strip()

    def label_for(self, label: str) -> str:
        """The id of the input labelled `label` (exact label text), or ''."""
        for m in re.finditer(r'<label[^>]*for="([^"]+)"[^>]*>(.*?)</label>', self.text, re.S):
            if html.unescape(re.sub(r"<[^>]+>", "", m.group(2))).strip() == label:
                return m.group(1)
        return ""

    def has_input(self, input_id: str) -> bool:
        return bool(
            re.search(rf'<(input|textarea|select)[^>]*id="{re.escape(input_id)}"', self.text)
        )

    def buttons(self) -> list[str]:
        found = re.findall(r"<button[^>]*>(.*?)</button>", self.text, re.S)
        return [html.unescape(re.sub(r"<[^>]+>", "", b)).strip() for b in found]

    def links(self) -> dict[str, str]:
        """Link text -> href."""
        out = {}
        for href, text in re.findall(r'<a [^>]*href="([^"]*)"[^>]*>(.*?)</a>', self.text, re.S):
            out[html.unescape(re.sub(r"<[^>]+>", "", text)).strip()] = html.unescape(href)
        return out

    def form_action(self, button: str) -> str:
        """The action URL of the form that contains the button labelled `button`."""
        for form in re.findall(r"<form\b(.*?)</form>", self.text, re.S):
            if re.search(rf">\s*{re.escape(button)}\s*</button>", form):
                m = re.search(r'action="([^"]*)"', form.split(">", 1)[0])
                return urljoin(self.url, html.unescape(m.group(1))) if m else self.url
        raise AssertionError(f"no form with a {button!r} button")


class Browser:
    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")

    def _request(self, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> Page:
        full = url if url.startswith("http") else self.base + url
        parts = urlsplit(full)
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=20)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, path or "/", body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        conn.close()
        return Page(full, resp.status, hdrs, data)

    def get(self, url: str) -> Page:
        return self._request("GET", url, None, {})

    def post(self, url: str, fields: dict[str, str]) -> Page:
        body = urlencode(fields).encode()
        return self._request(
            "POST", url, body, {"Content-Type": "application/x-www-form-urlencoded"}
        )

    def submit(self, page: Page, button: str, fields: dict[str, str] | None = None) -> Page:
        """Press `button` on `page`: post its form as a browser would.

        The form's inputs are sent with their current values (hidden ones, text
        fields with a value, checked boxes), overridden by `fields`.
        """
        form_fields = {"token": page.token(), **(fields or {})}
        for form in re.findall(r"<form\b(.*?)</form>", page.text, re.S):
            m = re.search(rf"<button([^>]*)>\s*{re.escape(button)}\s*</button>", form)
            if not m:
                continue
            for tag in re.findall(r"<input\b[^>]*>", form):
                name = re.search(r'name="([^"]+)"', tag)
                value = re.search(r'value="([^"]*)"', tag)
                kind = re.search(r'type="([^"]+)"', tag)
                if not name or not value:
                    continue
                if kind and kind.group(1) in ("checkbox", "radio") and " checked" not in tag:
                    continue
                form_fields.setdefault(name.group(1), html.unescape(value.group(1)))
            named = re.search(r'name="([^"]+)" value="([^"]*)"', m.group(1))
            if named:
                form_fields[named.group(1)] = html.unescape(named.group(2))
            break
        else:
            raise AssertionError(f"no {button!r} button on {page.url}")
        return self.post(page.form_action(button), form_fields)

    def follow(self, page: Page) -> Page:
        assert page.status in (301, 302, 303, 307), page.status
        return self.get(urljoin(page.url, page.location))
