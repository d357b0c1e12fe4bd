"""Hosted HTML pages: Checkout, the customer portal, invoices, 3-D Secure, dashboard.

Pages are served under the `PAGE_PREFIXES` paths (and the dashboard at `/`) without an API
key, like Stripe's hosted pages. A page handler is registered with
`@page("GET", "/pages/...")` and called as `handler(ctx, req, **path_params)`
inside one store transaction; it returns a `response.Response` (see `html.py`
for `html_response()` / `redirect()`). Events it emits are automatic (no
`request.id`), as for actions a customer takes on Stripe's own pages.

Every state-changing form carries a token bound to the object it acts on
(`html.form_token`); POSTs without the right token get a 403 page.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from ..context import Ctx
from ..errors import StripeAPIError
from .registry import PAGES, PageNotFound, PageRequest, match_page, page

if TYPE_CHECKING:
    from ..context import EmulatorCore
    from ..response import Response

logger = logging.getLogger(__name__)

__all__ = ["PAGES", "PAGE_PREFIXES", "PageNotFound", "PageRequest", "dispatch", "page"]

# Paths served as HTML pages (besides the dashboard at "/"). The billing engine
# publishes /3ds/{intent}, /invoices/{id}, /invoices/{id}/pdf and
# /credit_notes/{id}/pdf.
PAGE_PREFIXES = (
    "/checkout/",
    "/portal/",
    "/3ds/",
    "/invoices/",
    "/credit_notes/",
    "/dashboard",
    "/pages/",
    "/favicon.ico",
)


def _decode(raw: str) -> dict[str, str]:
    return dict(parse_qsl(raw, keep_blank_values=True))


def dispatch(
    app: EmulatorCore, method: str, path: str, query: str, headers: dict[str, str], body: bytes
) -> Response:
    """Serve one page request (called by `Emulator.handle` for `/` and `/pages/...`)."""
    from . import (  # noqa: F401 - routes
        checkout_page,
        credit_note_pdf,
        dashboard,
        invoice_page,
        portal_page,
    )
    from .html import error_page

    if len(path) > 1:
        path = path.rstrip("/")
    found = match_page(method, path)
    if found is None:
        if method == "POST" and match_page("GET", path) is not None:
            return error_page(405, "Method not allowed", "This page does not accept that action.")
        return error_page(404, "Page not found", "There is nothing at this address.")
    route, params = found
    try:
        form = _decode(body.decode("utf-8")) if body else {}
    except UnicodeDecodeError:
        return error_page(400, "Bad request", "The form could not be read.")
    host = headers.get("host")
    base = app.config.public_url or (f"http://{host}" if host else "")
    req = PageRequest(method, path, _decode(query), form, headers, base.rstrip("/"))
    ctx = Ctx(app=app, method=method, path=path)
    try:
        with app.store.atomic():
            resp: Response = route.handler(ctx, req, **params)
    except PageNotFound as exc:
        ctx.emitted.clear()
        return error_page(404, "Not found", str(exc) or "This page does not exist.")
    except StripeAPIError as exc:
        ctx.emitted.clear()
        if exc.status == 404:
            return error_page(404, "Not found", exc.message)
        return error_page(
            exc.status if exc.status < 500 else 500, "Something went wrong", exc.message
        )
    except Exception:
        logger.exception("page crashed: %s %s", method, path)
        ctx.emitted.clear()
        return error_page(500, "Something went wrong", "The emulator hit an internal error.")
    if ctx.emitted:
        app.dispatcher.notify()
    return resp
