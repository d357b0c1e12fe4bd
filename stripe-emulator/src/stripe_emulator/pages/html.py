"""Small HTML helpers shared by the hosted pages: layout, escaping, formatting.

Everything user- or API-supplied goes through `esc()`; templates are plain
f-strings built from escaped pieces. One stylesheet, no scripts, no external
assets.
"""

# ruff: noqa: E501 - HTML templates read better unwrapped

from __future__ import annotations

import hashlib
import hmac
import html
import json
import time
from typing import TYPE_CHECKING, Any

from ..ids import random_token

if TYPE_CHECKING:
    from ..context import Ctx
    from ..response import Response

JSONDict = dict[str, Any]

ZERO_DECIMAL = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd"}
    | {"vuv", "xaf", "xof", "xpf"}
)
SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "cad": "CA$", "aud": "A$", "inr": "₹"}

CSS = """
:root{--ink:#1a1f36;--muted:#5b6478;--line:#e3e8ee;--bg:#f6f8fa;--card:#fff;
--brand:#4f46e5;--brand-ink:#fff;--ok:#0b7a48;--ok-bg:#e6f6ee;--bad:#b42318;--bad-bg:#fdecea;
--warn:#8a5a00;--warn-bg:#fff4e0}
*{box-sizing:border-box}
html{font-size:16px}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
color:var(--ink);background:var(--bg)}
a{color:var(--brand)}
header.top{background:var(--card);border-bottom:1px solid var(--line)}
header.top .in{max-width:1100px;margin:0 auto;padding:.8rem 1.2rem;display:flex;gap:1rem;
align-items:center;justify-content:space-between;flex-wrap:wrap}
.brand{font-weight:700;letter-spacing:.01em}
.test-badge{font-size:.72rem;font-weight:700;text-transform:uppercase;background:var(--warn-bg);
color:var(--warn);border-radius:4px;padding:.1rem .45rem;margin-left:.5rem;vertical-align:middle}
main{max-width:1100px;margin:0 auto;padding:1.5rem 1.2rem 3rem}
main.narrow{max-width:560px}
.split{display:grid;grid-template-columns:1fr 1fr;gap:2.5rem;align-items:start}
@media (max-width:760px){.split{grid-template-columns:1fr;gap:1.2rem}}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:1.3rem 1.4rem;
margin-bottom:1.2rem}
section>.card:not(:first-child){margin-top:1.2rem}
details summary{cursor:pointer;font-weight:600;margin:.8rem 0}
h1{font-size:1.45rem;margin:.2rem 0 1rem}
h2{font-size:1.1rem;margin:0 0 .8rem}
h3{font-size:1rem;margin:0 0 .5rem}
.muted{color:var(--muted)}
.small{font-size:.85rem}
.amount{font-size:2rem;font-weight:700;margin:.2rem 0}
table{width:100%;border-collapse:collapse}
th,td{text-align:left;padding:.5rem .4rem;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:.78rem;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);font-weight:600}
td.num,th.num{text-align:right;white-space:nowrap}
tr.total td{font-weight:700;border-bottom:none}
.table-wrap{overflow-x:auto}
label{display:block;font-weight:600;font-size:.88rem;margin:.8rem 0 .3rem}
input[type=text],input[type=email],input[type=date],input[type=number],select,textarea{width:100%;
padding:.6rem .7rem;border:1px solid #c9d1db;border-radius:6px;font:inherit;background:#fff;color:var(--ink)}
input:focus,select:focus,button:focus,a:focus{outline:3px solid rgba(79,70,229,.35);outline-offset:1px}
input[readonly]{background:var(--bg);color:var(--muted)}
.row{display:grid;grid-template-columns:1fr 1fr;gap:.8rem}
fieldset{border:1px solid var(--line);border-radius:8px;padding:.4rem 1rem .9rem;margin:1rem 0}
legend{font-weight:600;font-size:.88rem;padding:0 .3rem}
.radio{display:flex;gap:.5rem;align-items:center;font-weight:400;margin:.45rem 0}
button,.button{display:inline-block;border:0;border-radius:6px;padding:.7rem 1.1rem;font:inherit;
font-weight:600;cursor:pointer;background:var(--brand);color:var(--brand-ink);text-decoration:none;
text-align:center}
button.block{width:100%;margin-top:1.2rem;padding:.85rem}
button.secondary,.button.secondary{background:#fff;color:var(--ink);border:1px solid #c9d1db}
button.danger{background:var(--bad)}
button.small,.button.small{padding:.35rem .7rem;font-size:.85rem}
form.inline{display:inline}
.actions{display:flex;gap:.6rem;flex-wrap:wrap;margin-top:1rem}
.notice{border-radius:8px;padding:.75rem 1rem;margin:0 0 1rem}
.notice.error{background:var(--bad-bg);color:var(--bad)}
.notice.ok{background:var(--ok-bg);color:var(--ok)}
.notice.info{background:#eef2ff;color:#3730a3}
.pill{display:inline-block;font-size:.75rem;font-weight:600;border-radius:999px;padding:.08rem .55rem;
background:var(--bg);color:var(--muted);border:1px solid var(--line)}
.pill.ok{background:var(--ok-bg);color:var(--ok);border-color:transparent}
.pill.bad{background:var(--bad-bg);color:var(--bad);border-color:transparent}
.pill.warn{background:var(--warn-bg);color:var(--warn);border-color:transparent}
.back{display:inline-block;margin-bottom:1rem;color:var(--muted);text-decoration:none}
.back:hover{text-decoration:underline}
pre.json{background:#0f172a;color:#e2e8f0;padding:1rem;border-radius:8px;overflow:auto;font-size:.8rem}
nav.tabs{display:flex;gap:1rem;flex-wrap:wrap}
nav.tabs a{text-decoration:none;color:var(--muted);font-weight:600}
nav.tabs a.on{color:var(--ink)}
.plan{display:flex;justify-content:space-between;gap:1rem;align-items:center;flex-wrap:wrap}
footer{color:var(--muted);font-size:.8rem;text-align:center;padding:1rem}
"""


def esc(value: Any) -> str:
    """HTML-escape anything (None renders as an empty string)."""
    return "" if value is None else html.escape(str(value), quote=True)


def document(title: str, body: str, *, brand: str = "Stripe emulator", narrow: bool = False) -> str:
    cls = ' class="narrow"' if narrow else ""
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f'<header class="top"><div class="in"><span class="brand">{esc(brand)}'
        '<span class="test-badge">Test mode</span></span></div></header>'
        f"<main{cls}>{body}</main>"
        "<footer>Served by the offline Stripe emulator. No real payment is made.</footer>"
        "</body></html>"
    )


def html_response(body: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    from ..response import Response

    hdrs = {
        "Cache-Control": "no-store",
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        "form-action *; frame-ancestors 'none'; base-uri 'none'",
        "Referrer-Policy": "no-referrer",
    }
    hdrs.update(headers or {})
    return Response(status, body.encode("utf-8"), hdrs, content_type="text/html; charset=utf-8")


def redirect(location: str, status: int = 303) -> Response:
    from ..response import Response

    return Response(status, b"", {"Location": location, "Cache-Control": "no-store"}, "text/plain")


def error_page(status: int, title: str, message: str) -> Response:
    body = (
        f'<div class="card"><h1>{esc(title)}</h1><p class="muted">{esc(message)}</p>'
        '<p><a href="/">Open the emulator dashboard</a></p></div>'
    )
    return html_response(document(title, body, narrow=True), status)


def notice(message: str | None, kind: str = "error") -> str:
    if not message:
        return ""
    role = "alert" if kind == "error" else "status"
    return f'<div class="notice {esc(kind)}" role="{role}">{esc(message)}</div>'


# -- formatting --------------------------------------------------------------


def money(amount: int | None, currency: str | None) -> str:
    if amount is None:
        return ""
    cur = (currency or "usd").lower()
    negative = amount < 0
    value = abs(amount)
    text = f"{value:,}" if cur in ZERO_DECIMAL else f"{value / 100:,.2f}"
    symbol = SYMBOLS.get(cur)
    out = f"{symbol}{text}" if symbol else f"{text} {cur.upper()}"
    return f"-{out}" if negative else out


def date(ts: int | None) -> str:
    if not ts:
        return ""
    return time.strftime("%-d %b %Y", time.gmtime(ts))


def datetime(ts: int | None) -> str:
    if not ts:
        return ""
    return time.strftime("%-d %b %Y %H:%M UTC", time.gmtime(ts))


def interval_text(recurring: JSONDict | None) -> str:
    if not recurring:
        return "one time"
    count = int(recurring.get("interval_count") or 1)
    unit = str(recurring.get("interval") or "month")
    return f"per {unit}" if count == 1 else f"every {count} {unit}s"


def price_label(price: JSONDict, product: JSONDict | None) -> str:
    name = (product or {}).get("name") or price.get("nickname") or price.get("id")
    return str(name)


def price_amount_text(price: JSONDict, quantity: int = 1) -> str:
    unit = price.get("unit_amount")
    if unit is None and price.get("unit_amount_decimal") is not None:
        unit = round(float(price["unit_amount_decimal"]))
    if unit is None:
        return "Usage based"
    text = money(int(unit) * quantity, price.get("currency"))
    if price.get("recurring"):
        text += " " + interval_text(price["recurring"])
    return text


def pretty_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True)


def status_pill(status: str | None) -> str:
    good = {"active", "paid", "succeeded", "complete", "trialing", "ready", "enabled"}
    if status and status.isdigit():
        kind = "ok" if status.startswith("2") else "bad"
        return f'<span class="pill {kind}">{esc(status)}</span>'

    bad = {"past_due", "unpaid", "canceled", "incomplete_expired", "failed", "void", "expired"}
    kind = "ok" if status in good else "bad" if status in bad else "warn"
    return f'<span class="pill {kind}">{esc(status)}</span>'


# -- form tokens ---------------------------------------------------------------


def _secret(ctx: Ctx) -> bytes:
    value = ctx.store.kv_get("pages:form_secret")
    if not value:
        value = random_token(40)
        ctx.store.kv_set("pages:form_secret", value)
    return str(value).encode()


def form_token(ctx: Ctx, object_id: str) -> str:
    """A token bound to one object (session, invoice, PaymentIntent) for its forms."""
    return hmac.new(_secret(ctx), object_id.encode(), hashlib.sha256).hexdigest()[:32]


def token_ok(ctx: Ctx, object_id: str, token: str) -> bool:
    return hmac.compare_digest(form_token(ctx, object_id), token or "")


def hidden_token(ctx: Ctx, object_id: str) -> str:
    return f'<input type="hidden" name="token" value="{esc(form_token(ctx, object_id))}">'


def forbidden() -> Response:
    return error_page(
        403,
        "This form has expired",
        "The page was out of date or the request did not come from it. Go back, reload and "
        "try again.",
    )
