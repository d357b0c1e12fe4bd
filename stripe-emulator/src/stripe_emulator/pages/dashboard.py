"""The emulator dashboard at `/`: what is stored, what was sent, and a few levers.

/                              overview: clocks, customers, subscriptions, invoices,
                               checkout sessions, recent events
/dashboard/events/{id}         one event: JSON and every delivery attempt, "Resend"
/dashboard/objects/{id}        any stored object as JSON
POST /dashboard/clocks/{id}/advance   by=day|month, or to=YYYY-MM-DD
POST /dashboard/events/{id}/resend
"""

# ruff: noqa: E501 - HTML templates read better unwrapped

from __future__ import annotations

import calendar
import time
from typing import Any
from urllib.parse import quote

from ..context import Ctx
from ..engine.clocks import test_clock_advance
from ..render import strip
from ..response import Response
from .html import (
    date,
    datetime,
    document,
    esc,
    forbidden,
    hidden_token,
    html_response,
    money,
    notice,
    pretty_json,
    redirect,
    status_pill,
    token_ok,
)
from .registry import PageNotFound, PageRequest, page

JSONDict = dict[str, Any]
TOKEN_SCOPE = "dashboard"  # noqa: S105 - a form-token scope, not a password
LIMIT = 25


def _obj_link(object_id: Any) -> str:
    if not object_id:
        return '<span class="muted">-</span>'
    if isinstance(object_id, dict):
        object_id = object_id.get("id")
    return f'<a href="/dashboard/objects/{esc(quote(str(object_id)))}"><code>{esc(object_id)}</code></a>'


def _ms(value: Any) -> str:
    return "" if value is None else f"{float(value):.0f} ms"


def _table(label: str, headers: list[str], rows: list[str], empty: str) -> str:
    if not rows:
        return f'<p class="muted">{esc(empty)}</p>'
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in headers)
    return (
        f'<div class="table-wrap"><table aria-label="{esc(label)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _section(title: str, anchor: str, content: str) -> str:
    return f'<section class="card" id="{esc(anchor)}"><h2>{esc(title)}</h2>{content}</section>'


def _layout(title: str, body: str, flash: str = "") -> Response:
    nav = (
        '<nav class="tabs" aria-label="Dashboard sections">'
        '<a href="/">Overview</a><a href="/#clocks">Test clocks</a>'
        '<a href="/#customers">Customers</a><a href="/#subscriptions">Subscriptions</a>'
        '<a href="/#invoices">Invoices</a><a href="/#checkout">Checkout</a>'
        '<a href="/#webhooks">Webhooks</a><a href="/#events">Events</a></nav>'
    )
    return html_response(
        document(title, f'{nav}<h1 style="margin-top:1rem">{esc(title)}</h1>{flash}{body}')
    )


def _clock_rows(ctx: Ctx) -> list[str]:
    rows = []
    token = hidden_token(ctx, TOKEN_SCOPE)
    for clock in ctx.store.all("test_helpers.test_clock")[:LIMIT]:
        cid = quote(clock["id"])
        action = f"/dashboard/clocks/{esc(cid)}/advance"
        forms = (
            f'<form method="post" action="{action}" class="inline">{token}'
            '<input type="hidden" name="by" value="day">'
            '<button class="small secondary" type="submit">+1 day</button></form> '
            f'<form method="post" action="{action}" class="inline">{token}'
            '<input type="hidden" name="by" value="month">'
            '<button class="small secondary" type="submit">+1 month</button></form> '
            f'<form method="post" action="{action}" class="inline">{token}'
            f'<label class="small" for="to_{esc(clock["id"])}" style="display:inline">To date</label> '
            f'<input type="date" id="to_{esc(clock["id"])}" name="to" '
            'style="width:auto;padding:.25rem .4rem"> '
            '<button class="small secondary" type="submit">Advance to date</button></form>'
        )
        rows.append(
            f'<tr><td>{_obj_link(clock["id"])}<div class="small muted">{esc(clock.get("name") or "")}</div></td>'
            f"<td>{esc(datetime(clock.get('frozen_time')))}</td>"
            f"<td>{status_pill(clock.get('status'))}</td><td>{forms}</td></tr>"
        )
    return rows


@page("GET", "/")
def overview(ctx: Ctx, req: PageRequest) -> Response:
    flash = notice(req.value("message"), "ok") if req.value("message") else ""
    if req.value("error"):
        flash = notice(req.value("error"))
    token = hidden_token(ctx, TOKEN_SCOPE)
    customers = [
        f"<tr><td>{_obj_link(c['id'])}</td><td>{esc(c.get('email') or '')}</td>"
        f"<td>{esc(c.get('name') or '')}</td><td>{esc(date(c.get('created')))}</td>"
        f"<td>{_obj_link(c.get('test_clock')) if c.get('test_clock') else ''}</td>"
        f'<td><form method="post" class="inline" action="/dashboard/customers/'
        f'{esc(quote(c["id"]))}/portal">{token}'
        '<button class="small secondary" type="submit">Open portal</button></form></td></tr>'
        for c in ctx.store.all("customer")[:LIMIT]
    ]
    subs = []
    for s in ctx.store.all("subscription")[:LIMIT]:
        items = (s.get("items") or {}).get("data") or []
        price = items[0].get("price") if items else None
        price_id = price.get("id") if isinstance(price, dict) else price
        ends = [i.get("current_period_end") for i in items if i.get("current_period_end")]
        flags = " (cancels at period end)" if s.get("cancel_at_period_end") else ""
        subs.append(
            f"<tr><td>{_obj_link(s['id'])}</td><td>{_obj_link(s.get('customer'))}</td>"
            f"<td>{status_pill(s.get('status'))}{esc(flags)}</td><td>{_obj_link(price_id)}</td>"
            f"<td>{esc(date(min(ends)) if ends else '')}</td></tr>"
        )
    invoices = []
    for inv in ctx.store.all("invoice")[:LIMIT]:
        links = []
        if inv.get("hosted_invoice_url"):
            links.append(f'<a href="/invoices/{esc(quote(inv["id"]))}">page</a>')
            links.append(f'<a href="/invoices/{esc(quote(inv["id"]))}/pdf">PDF</a>')
        invoices.append(
            f'<tr><td>{_obj_link(inv["id"])}<div class="small muted">{esc(inv.get("number") or "")}</div></td>'
            f"<td>{_obj_link(inv.get('customer'))}</td><td>{status_pill(inv.get('status'))}</td>"
            f'<td class="num">{esc(money(inv.get("total"), inv.get("currency")))}</td>'
            f"<td>{esc(inv.get('billing_reason') or '')}</td><td>{' · '.join(links)}</td></tr>"
        )
    sessions = []
    for cs in ctx.store.all("checkout.session")[:LIMIT]:
        link = (
            f'<a href="/checkout/{esc(quote(cs["id"]))}">open page</a>'
            if cs.get("status") == "open" and cs.get("url")
            else ""
        )
        sessions.append(
            f"<tr><td>{_obj_link(cs['id'])}</td><td>{esc(cs.get('mode'))}</td>"
            f"<td>{status_pill(cs.get('status'))}</td><td>{_obj_link(cs.get('customer'))}</td>"
            f"<td>{_obj_link(cs.get('subscription'))}</td><td>{link}</td></tr>"
        )
    events = []
    all_attempts = ctx.app.dispatcher.attempts()
    by_event: dict[str, list[JSONDict]] = {}
    for a in all_attempts:
        by_event.setdefault(str(a["event"]), []).append(a)
    for e in ctx.store.all("event")[: LIMIT * 2]:
        attempts = by_event.get(e["id"], [])
        if attempts:
            summary = "".join(
                f'<div class="small">#{esc(a["attempt"])} '
                f"{status_pill(str(a['status_code'] or 'error') if a['succeeded'] else 'failed')} "
                f"{'' if a['succeeded'] else esc(a['status_code'] or a['error'] or '')} "
                f"{_ms(a['latency_ms'])}</div>"
                for a in attempts[-3:]
            )
        else:
            pending = int(e.get("pending_webhooks") or 0)
            summary = f'<span class="muted small">{pending} pending</span>' if pending else ""
        events.append(
            f'<tr><td><a href="/dashboard/events/{esc(quote(e["id"]))}"><code>{esc(e["id"])}</code></a></td>'
            f"<td>{esc(e.get('type'))}</td><td>{_obj_link((e.get('data') or {}).get('object', {}).get('id'))}</td>"
            f"<td>{esc(datetime(e.get('created')))}</td><td>{summary}</td></tr>"
        )
    endpoints = [
        f"<tr><td>{_obj_link(ep['id'])}</td><td><code>{esc(ep.get('url'))}</code></td>"
        f"<td>{status_pill(ep.get('status'))}</td>"
        f"<td>{esc(', '.join(ep.get('enabled_events') or []))}</td></tr>"
        for ep in ctx.store.all("webhook_endpoint")[:LIMIT]
    ]
    body = (
        _section(
            "Test clocks",
            "clocks",
            _table(
                "Test clocks",
                ["Clock", "Frozen time", "Status", "Advance"],
                _clock_rows(ctx),
                "No test clocks.",
            ),
        )
        + _section(
            "Customers",
            "customers",
            _table(
                "Customers",
                ["Customer", "Email", "Name", "Created", "Test clock", ""],
                customers,
                "No customers yet.",
            ),
        )
        + _section(
            "Subscriptions",
            "subscriptions",
            _table(
                "Subscriptions",
                ["Subscription", "Customer", "Status", "Price", "Period end"],
                subs,
                "No subscriptions yet.",
            ),
        )
        + _section(
            "Invoices",
            "invoices",
            _table(
                "Invoices",
                ["Invoice", "Customer", "Status", "Total", "Reason", "Links"],
                invoices,
                "No invoices yet.",
            ),
        )
        + _section(
            "Checkout sessions",
            "checkout",
            _table(
                "Checkout sessions",
                ["Session", "Mode", "Status", "Customer", "Subscription", ""],
                sessions,
                "No checkout sessions yet.",
            ),
        )
        + _section(
            "Webhook endpoints",
            "webhooks",
            _table(
                "Webhook endpoints",
                ["Endpoint", "URL", "Status", "Events"],
                endpoints,
                "No webhook endpoints.",
            ),
        )
        + _section(
            "Recent events",
            "events",
            _table(
                "Recent events",
                ["Event", "Type", "Object", "Created", "Deliveries"],
                events,
                "No events yet.",
            ),
        )
    )
    return _layout("Stripe emulator", body, flash)


@page("GET", "/dashboard/events/{id}")
def event_detail(ctx: Ctx, req: PageRequest, id: str) -> Response:
    event = ctx.find("event", id)
    if event is None:
        raise PageNotFound("This event does not exist.")
    rows = [
        f'<tr><td>{esc(a["attempt"])}</td><td>{_obj_link(a["endpoint"])}<div class="small muted">{esc(a["url"])}</div></td>'
        f"<td>{status_pill('succeeded' if a['succeeded'] else 'failed')} {esc(a['status_code'] or a['error'] or '')}</td>"
        f'<td class="num">{_ms(a["latency_ms"])}</td><td>{esc(datetime(int(a["at"])) if a["at"] else "")}</td>'
        f'<td><code class="small">{esc((a["response_excerpt"] or "")[:120])}</code></td></tr>'
        for a in ctx.app.dispatcher.attempts(id)
    ]
    resend = (
        f'<form method="post" class="actions" action="/dashboard/events/{esc(quote(id))}/resend">{hidden_token(ctx, TOKEN_SCOPE)}'
        '<button type="submit" class="secondary">Resend event</button></form>'
    )
    body = _section(
        "Delivery attempts",
        "attempts",
        _table(
            "Delivery attempts",
            ["#", "Endpoint", "Result", "Latency", "At", "Response"],
            rows,
            "No delivery attempts yet.",
        )
        + resend,
    ) + _section("Event JSON", "json", f'<pre class="json">{esc(pretty_json(strip(event)))}</pre>')
    flash = notice(req.value("message"), "ok") if req.value("message") else ""
    return _layout(f"{event.get('type')} {id}", body, flash)


@page("GET", "/dashboard/objects/{id}")
def object_detail(ctx: Ctx, req: PageRequest, id: str) -> Response:
    obj = ctx.store.get(id)
    if obj is None:
        raise PageNotFound("No stored object has this id.")
    related = [
        f'<tr><td><a href="/dashboard/events/{esc(quote(e["id"]))}"><code>{esc(e["id"])}</code></a></td>'
        f"<td>{esc(e.get('type'))}</td><td>{esc(datetime(e.get('created')))}</td></tr>"
        for e in ctx.store.all(
            "event", lambda e: ((e.get("data") or {}).get("object") or {}).get("id") == id
        )[:LIMIT]
    ]
    body = _section(
        str(obj.get("object") or "object"),
        "json",
        f'<pre class="json">{esc(pretty_json(strip(obj)))}</pre>',
    ) + _section(
        "Events for this object",
        "events",
        _table("Events", ["Event", "Type", "Created"], related, "No events."),
    )
    return _layout(id, body)


def _add_month(ts: int) -> int:
    t = time.gmtime(ts)
    year, month = (t.tm_year + 1, 1) if t.tm_mon == 12 else (t.tm_year, t.tm_mon + 1)
    day = min(t.tm_mday, calendar.monthrange(year, month)[1])
    return calendar.timegm((year, month, day, t.tm_hour, t.tm_min, t.tm_sec, 0, 0, 0))


@page("POST", "/dashboard/clocks/{id}/advance")
def advance(ctx: Ctx, req: PageRequest, id: str) -> Response:
    if not token_ok(ctx, TOKEN_SCOPE, req.form.get("token", "")):
        return forbidden()
    clock = ctx.find("test_helpers.test_clock", id)
    if clock is None:
        raise PageNotFound("This test clock does not exist.")
    now = int(clock["frozen_time"])
    if req.value("to"):
        try:
            target = calendar.timegm(time.strptime(req.value("to"), "%Y-%m-%d"))
        except ValueError:
            return redirect("/?error=" + quote("Enter the date as YYYY-MM-DD."))
        # Keep the clock's time of day.
        target += now % 86400
    elif req.value("by") == "month":
        target = _add_month(now)
    else:
        target = now + 86400
    try:
        test_clock_advance(ctx, id, target)
    except Exception as exc:  # a StripeAPIError with Stripe's message
        message = getattr(exc, "message", None) or "The clock could not be advanced."
        return redirect("/?error=" + quote(str(message)))
    return redirect("/?message=" + quote(f"Advanced {id} to {datetime(target)}.") + "#clocks")


@page("POST", "/dashboard/events/{id}/resend")
def resend(ctx: Ctx, req: PageRequest, id: str) -> Response:
    if not token_ok(ctx, TOKEN_SCOPE, req.form.get("token", "")):
        return forbidden()
    if ctx.find("event", id) is None:
        raise PageNotFound("This event does not exist.")
    count = ctx.app.dispatcher.resend(id)
    ctx.app.dispatcher.notify()
    return redirect(
        f"/dashboard/events/{quote(id)}?message="
        + quote(f"Queued {count} new delivery attempt(s).")
    )


@page("GET", "/favicon.ico")
def favicon(ctx: Ctx, req: PageRequest) -> Response:
    """No icon (browsers ask for one, e.g. for the invoice PDF viewer)."""
    return Response(204, b"", {"Cache-Control": "max-age=86400"}, content_type="image/x-icon")


@page("POST", "/dashboard/customers/{id}/portal")
def open_portal(ctx: Ctx, req: PageRequest, id: str) -> Response:
    """A portal session for the customer (default configuration, created if needed)."""
    from ..engine.portal import ensure_default_configuration, portal_session_create

    if not token_ok(ctx, TOKEN_SCOPE, req.form.get("token", "")):
        return forbidden()
    customer = ctx.find("customer", id)
    if customer is None or customer.get("deleted"):
        raise PageNotFound("This customer does not exist.")
    config = ensure_default_configuration(ctx)
    session = portal_session_create(
        ctx, {"customer": id, "configuration": config["id"], "return_url": req.base_url + "/"}
    )
    return redirect("/portal/" + str(session["_secret"]))
