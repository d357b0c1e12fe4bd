"""The customer portal at `billing_portal.session.url` (/portal/{secret}/...).

What it shows is driven by the session's configuration. Every action goes
through the billing engine, so it emits the same events as the API would.

Pages (relative to /portal/{secret}):
  ""                                  home: subscriptions, payment method, invoices
  /subscriptions/{sub}/update         "Update plan": choose among allowed prices
  /subscriptions/{sub}/update/confirm proration preview and "Confirm"
  /subscriptions/{sub}/cancel         "Cancel plan" (reason radios when enabled)
  /subscriptions/{sub}/renew (POST)   "Renew plan" when cancellation is scheduled
  /payment-method                     "Update payment method" card form
  /done                               hosted confirmation after a flow
"""

# ruff: noqa: E501 - HTML templates read better unwrapped

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ..context import Ctx
from ..engine.cards import build_card_payment_method
from ..engine.customers import customer_update
from ..engine.portal import (
    REASON_LABELS,
    portal_card_setup,
    portal_payment_method_use,
    portal_plan_preview,
    portal_plan_update,
    portal_retention_accept,
    portal_subscription_cancel,
    portal_subscription_renew,
    portal_subscriptions,
    session_for_secret,
)
from ..errors import StripeAPIError
from ..response import Response
from .checkout_page import business_name, parse_expiry
from .html import (
    date,
    document,
    esc,
    forbidden,
    hidden_token,
    html_response,
    interval_text,
    money,
    notice,
    redirect,
    status_pill,
    token_ok,
)
from .registry import PageNotFound, PageRequest, page

JSONDict = dict[str, Any]


class _Portal:
    """Everything a portal page needs about its session."""

    def __init__(self, ctx: Ctx, secret: str) -> None:
        session = session_for_secret(ctx, secret)
        if session is None:
            raise PageNotFound(
                "This portal session has expired or does not exist. Return to the app and open "
                "the billing portal again."
            )
        self.ctx = ctx
        self.secret = secret
        self.session = session
        self.config: JSONDict = ctx.get("billing_portal.configuration", session["configuration"])
        self.features: JSONDict = self.config["features"]
        self.customer: JSONDict = ctx.get("customer", session["customer"])
        self.brand = business_name(ctx)
        self.base = f"/portal/{secret}"

    def flag(self, feature: str) -> bool:
        return bool(self.features.get(feature, {}).get("enabled"))

    def subscriptions(self) -> list[JSONDict]:
        return portal_subscriptions(self.ctx, self.customer["id"])

    def subscription(self, sub_id: str) -> JSONDict:
        sub = self.ctx.find("subscription", sub_id)
        if sub is None or sub.get("customer") != self.customer["id"]:
            raise PageNotFound("This subscription does not exist.")
        return sub

    def token(self) -> str:
        return hidden_token(self.ctx, self.session["id"])

    def check(self, req: PageRequest) -> bool:
        return token_ok(self.ctx, self.session["id"], req.form.get("token", ""))

    def flash(self, message: str, kind: str = "ok") -> None:
        self.session["_flash"] = [kind, message]
        self.ctx.save(self.session)

    def take_flash(self) -> str:
        raw = self.session.pop("_flash", None)
        if not raw:
            return ""
        self.ctx.save(self.session)
        return notice(raw[1], raw[0])

    def render(self, title: str, body: str, status: int = 200) -> Response:
        back = ""
        if self.session.get("return_url"):
            back = (
                f'<a class="back" href="{esc(self.session["return_url"])}">'
                f"&larr; Return to {esc(self.brand)}</a>"
            )
        headline = (self.config.get("business_profile") or {}).get("headline")
        head = f'<p class="muted">{esc(headline)}</p>' if headline else ""
        links = []
        profile = self.config.get("business_profile") or {}
        if profile.get("terms_of_service_url"):
            links.append(f'<a href="{esc(profile["terms_of_service_url"])}">Terms</a>')
        if profile.get("privacy_policy_url"):
            links.append(f'<a href="{esc(profile["privacy_policy_url"])}">Privacy</a>')
        foot = f'<p class="small muted">{" · ".join(links)}</p>' if links else ""
        return html_response(
            document(title, f"{back}{head}{body}{foot}", brand=self.brand, narrow=True), status
        )

    def finish_flow(self, message: str) -> Response:
        """After an action: honour the deep-link flow's after_completion, else go home."""
        flow = self.session.get("flow")
        if flow and not self.session.get("_flow_done"):
            self.session["_flow_done"] = True
            self.ctx.save(self.session)
            after = flow.get("after_completion") or {}
            if after.get("type") == "redirect" and after.get("redirect"):
                return redirect(str(after["redirect"]["return_url"]))
            if after.get("type") == "hosted_confirmation":
                custom = (after.get("hosted_confirmation") or {}).get("custom_message")
                self.flash(custom or message)
                return redirect(f"{self.base}/done")
        self.flash(message)
        return redirect(self.base)


def _price_line(ctx: Ctx, price: JSONDict | str | None) -> tuple[str, str]:
    if isinstance(price, str):
        price = ctx.find("price", price)
    price = price or {}
    product = ctx.find("product", str(price.get("product"))) or {}
    name = str(product.get("name") or price.get("nickname") or price.get("id") or "Plan")
    amount = price.get("unit_amount")
    text = (
        money(int(amount or 0), price.get("currency")) + " " + interval_text(price.get("recurring"))
    )
    return name, text


def _items(sub: JSONDict) -> list[JSONDict]:
    items = (sub.get("items") or {}).get("data") or []
    return [i for i in items if isinstance(i, dict)]


def _period_end(sub: JSONDict) -> int | None:
    ends = [int(i["current_period_end"]) for i in _items(sub) if i.get("current_period_end")]
    return min(ends) if ends else None


def _scheduled_end(sub: JSONDict) -> int | None:
    if sub.get("cancel_at"):
        return int(sub["cancel_at"])
    if sub.get("cancel_at_period_end"):
        return _period_end(sub)
    return None


def _sub_card(p: _Portal, sub: JSONDict) -> str:
    ctx = p.ctx
    lines = []
    for item in _items(sub):
        name, text = _price_line(ctx, item.get("price"))
        qty = 1 if item.get("quantity") is None else int(item["quantity"])
        qty_text = f" x {qty}" if qty != 1 else ""
        lines.append(
            f'<div class="plan"><div><h3>{esc(name)}{esc(qty_text)}</h3>'
            f'<div class="amount" style="font-size:1.4rem">{esc(text)}</div></div>'
            f"<div>{status_pill(sub.get('status'))}</div></div>"
        )
    end = _scheduled_end(sub)
    facts = []
    if sub.get("status") == "trialing" and sub.get("trial_end"):
        facts.append(f"Your trial ends on {date(sub['trial_end'])}.")
    if end:
        facts.append(f"Your plan will be canceled on {date(end)}.")
    elif sub.get("status") in ("active", "trialing") and _period_end(sub):
        facts.append(f"Your plan renews on {date(_period_end(sub))}.")
    if sub.get("status") in ("past_due", "unpaid", "incomplete"):
        facts.append("Your latest payment failed. Update your payment method to pay it.")
    if sub.get("pause_collection"):
        facts.append("Payment collection is paused.")
    buttons = []
    base = f"{p.base}/subscriptions/{quote(sub['id'])}"
    if end:
        buttons.append(
            f'<form method="post" action="{esc(base)}/renew" class="inline">{p.token()}'
            '<button type="submit">Renew plan</button></form>'
        )
    else:
        if p.flag("subscription_update") and sub.get("status") in ("active", "trialing"):
            buttons.append(f'<a class="button" href="{esc(base)}/update">Update plan</a>')
        if p.flag("subscription_cancel"):
            buttons.append(f'<a class="button secondary" href="{esc(base)}/cancel">Cancel plan</a>')
    facts_html = "".join(f'<p class="muted">{esc(f)}</p>' for f in facts)
    return (
        f'<div class="card" aria-label="Subscription {esc(sub["id"])}">'
        f'{"".join(lines)}{facts_html}<div class="actions">{"".join(buttons)}</div></div>'
    )


def _default_pm(p: _Portal) -> JSONDict | None:
    pm_id = (p.customer.get("invoice_settings") or {}).get("default_payment_method")
    if not pm_id:
        for sub in p.subscriptions():
            if sub.get("default_payment_method"):
                pm_id = sub["default_payment_method"]
                break
    return p.ctx.find("payment_method", str(pm_id)) if pm_id else None


def _invoices(p: _Portal) -> list[JSONDict]:
    return p.ctx.store.all(
        "invoice",
        lambda i: i.get("customer") == p.customer["id"] and i.get("status") != "draft",
    )


@page("GET", "/portal/{secret}")
def portal_home(ctx: Ctx, req: PageRequest, secret: str) -> Response:
    p = _Portal(ctx, secret)
    flow = p.session.get("flow")
    if flow and not p.session.get("_flow_done"):
        target = _flow_target(p, flow)
        if target:
            return redirect(target)
    parts = [f"<h1>{esc(p.brand)}</h1>", p.take_flash()]
    subs = p.subscriptions()
    parts.append('<h2 style="margin-top:1.2rem">Current subscription</h2>')
    if subs:
        parts += [_sub_card(p, s) for s in subs]
    else:
        parts.append(
            '<div class="card"><p class="muted">You have no active subscription.</p></div>'
        )
    pm = _default_pm(p)
    if p.flag("payment_method_update") or pm:
        card = (
            f"{esc(str(pm['card']['brand']).title())} ending in {esc(pm['card']['last4'])}, "
            f"expires {int(pm['card']['exp_month']):02d}/{esc(pm['card']['exp_year'])}"
            if pm and pm.get("card")
            else "No payment method on file."
        )
        button = (
            f'<div class="actions"><a class="button secondary" href="{esc(p.base)}/payment-method">'
            "Update payment method</a></div>"
            if p.flag("payment_method_update")
            else ""
        )
        parts.append(f'<h2>Payment method</h2><div class="card"><p>{card}</p>{button}</div>')
    cust = p.customer
    edit = (
        f'<div class="actions"><a class="button secondary" href="{esc(p.base)}/customer">'
        "Update information</a></div>"
        if _editable_fields(p) or _edits_address(p)
        else ""
    )
    phone = f"<br>{esc(cust['phone'])}" if cust.get("phone") else ""
    addr = cust.get("address") or {}
    lines = [
        addr.get("line1"),
        addr.get("line2"),
        " ".join(str(x) for x in (addr.get("postal_code"), addr.get("city")) if x),
        addr.get("state"),
        addr.get("country"),
    ]
    phone += "".join(f"<br>{esc(line)}" for line in lines if line)
    parts.append(
        '<h2>Billing information</h2><div class="card">'
        f"<p><strong>{esc(cust.get('name') or '')}</strong><br>{esc(cust.get('email') or '')}"
        f"{phone}</p>{edit}</div>"
    )
    if p.flag("invoice_history"):
        rows = []
        for inv in _invoices(p):
            links = []
            if inv.get("hosted_invoice_url"):
                links.append(f'<a href="{esc(inv["hosted_invoice_url"])}">View invoice</a>')
            if inv.get("invoice_pdf"):
                links.append(f'<a href="{esc(inv["invoice_pdf"])}">Download PDF</a>')
            rows.append(
                f"<tr><td>{esc(date(inv.get('created')))}</td>"
                f'<td class="num">{esc(money(inv.get("total"), inv.get("currency")))}</td>'
                f"<td>{status_pill(inv.get('status'))}</td><td>{' · '.join(links)}</td></tr>"
            )
        table = (
            '<div class="table-wrap"><table aria-label="Invoice history"><thead><tr>'
            '<th scope="col">Date</th><th scope="col" class="num">Amount</th>'
            '<th scope="col">Status</th><th scope="col">Links</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>"
            if rows
            else '<p class="muted">No invoices yet.</p>'
        )
        parts.append(f'<h2>Invoice history</h2><div class="card">{table}</div>')
    return p.render(f"{p.brand} billing", "".join(parts))


def _flow_target(p: _Portal, flow: JSONDict) -> str:
    ftype = flow.get("type")
    if ftype == "payment_method_update":
        return f"{p.base}/payment-method"
    spec = flow.get(str(ftype)) or {}
    sub = quote(str(spec.get("subscription") or ""))
    if ftype == "subscription_cancel":
        return f"{p.base}/subscriptions/{sub}/cancel"
    if ftype == "subscription_update":
        return f"{p.base}/subscriptions/{sub}/update"
    if ftype == "subscription_update_confirm":
        item = (spec.get("items") or [{}])[0]
        price = quote(str(item.get("price") or ""))
        qty = f"&quantity={int(item['quantity'])}" if item.get("quantity") else ""
        return f"{p.base}/subscriptions/{sub}/update/confirm?price={price}{qty}"
    return ""


@page("GET", "/portal/{secret}/done")
def portal_done(ctx: Ctx, req: PageRequest, secret: str) -> Response:
    p = _Portal(ctx, secret)
    message = p.take_flash() or notice("All done.", "ok")
    link = (
        f'<p><a class="button" href="{esc(p.session["return_url"])}">Return to {esc(p.brand)}</a></p>'
        if p.session.get("return_url")
        else ""
    )
    body = (
        f'<div class="card"><h1>Done</h1>{message}{link}'
        f'<p><a href="{esc(p.base)}">Manage billing</a></p></div>'
    )
    return p.render("Done", body)


# --------------------------------------------------------------------------
# update plan


def _allowed_prices(p: _Portal, sub: JSONDict | None = None) -> list[JSONDict]:
    """Prices the customer may pick: the configured ones when `price` updates are
    allowed; the current one (to change only the quantity) when it is adjustable."""
    allowed = set(p.features["subscription_update"].get("default_allowed_updates") or [])
    current = _current_price(sub) if sub else None
    out = []
    for entry in p.features["subscription_update"].get("products") or []:
        for price_id in entry.get("prices") or []:
            price = p.ctx.find("price", price_id)
            if not price or not price.get("active"):
                continue
            if "price" in allowed or (price_id == current and _quantity_range(p, price)):
                out.append(price)
    return out


def _quantity_range(p: _Portal, price: JSONDict) -> tuple[int, int] | None:
    """(min, max) when the quantity of `price` may be changed in the portal."""
    feature = p.features["subscription_update"]
    for entry in feature.get("products") or []:
        if entry.get("product") != price.get("product"):
            continue
        adjustable = entry.get("adjustable_quantity") or {}
        if adjustable.get("enabled") or "quantity" in (
            feature.get("default_allowed_updates") or []
        ):
            # "any non-negative integer" within the configured bounds (a
            # minimum of 0 is a bound too); no maximum configured: 99.
            low = adjustable.get("minimum")
            high = adjustable.get("maximum")
            return int(1 if low is None else low), int(99 if high is None else high)
    return None


def _current_quantity(sub: JSONDict) -> int:
    """The first item's quantity (0 is a quantity; absent means 1)."""
    items = _items(sub)
    qty = items[0].get("quantity") if items else None
    return 1 if qty is None else int(qty)


def _chosen_quantity(
    p: _Portal, sub: JSONDict, price_id: str, raw: str
) -> tuple[int | None, str | None]:
    """The requested quantity (None: unchanged) or an error message."""
    price = p.ctx.find("price", price_id) or {}
    limits = _quantity_range(p, price)
    if not raw or limits is None:
        quantity = None
    else:
        try:
            quantity = int(raw)
        except ValueError:
            return None, "Enter a whole number for the quantity."
        if not limits[0] <= quantity <= limits[1]:
            return None, f"The quantity must be between {limits[0]} and {limits[1]}."
    same_qty = quantity is None or quantity == _current_quantity(sub)
    if price_id == _current_price(sub) and same_qty:
        return None, "Choose a different plan or quantity."
    return quantity, None


def _current_price(sub: JSONDict) -> str | None:
    items = _items(sub)
    if not items:
        return None
    price = items[0].get("price")
    return str(price["id"] if isinstance(price, dict) else price)


@page("GET", "/portal/{secret}/subscriptions/{sub_id}/update")
def update_plan(ctx: Ctx, req: PageRequest, secret: str, sub_id: str) -> Response:
    p = _Portal(ctx, secret)
    sub = p.subscription(sub_id)
    if not p.flag("subscription_update"):
        raise PageNotFound("Plan changes are not available.")
    current = _current_price(sub)
    options = []
    adjustable = False
    for price in _allowed_prices(p, sub):
        name, text = _price_line(ctx, price)
        is_current = price["id"] == current
        adjustable = adjustable or _quantity_range(p, price) is not None
        tag = ' <span class="pill">Current plan</span>' if is_current else ""
        disabled = " disabled" if is_current and not _quantity_range(p, price) else ""
        checked = " checked" if is_current and not disabled else ""
        options.append(
            f'<label class="radio card" for="price_{esc(price["id"])}">'
            f'<input type="radio" name="price" id="price_{esc(price["id"])}" '
            f'value="{esc(price["id"])}"{disabled}{checked} required> '
            f"<span><strong>{esc(name)}</strong>{tag}<br>"
            f'<span class="muted">{esc(text)}</span></span></label>'
        )
    quantity_field = _quantity_field(p, sub) if adjustable else ""
    body = (
        f"<h1>Update plan</h1>{p.take_flash()}"
        f'<form method="get" action="{esc(p.base)}/subscriptions/{esc(quote(sub["id"]))}/update/confirm">'
        f"<fieldset><legend>Choose a plan</legend>{''.join(options)}</fieldset>"
        f"{quantity_field}"
        '<div class="actions"><button type="submit">Continue</button>'
        f'<a class="button secondary" href="{esc(p.base)}">Go back</a></div></form>'
    )
    return p.render("Update plan", body)


def _quantity_field(p: _Portal, sub: JSONDict) -> str:
    """The quantity input, bounded by the current price's adjustable range (the
    server checks the chosen price's own range again on submit)."""
    current = p.ctx.find("price", _current_price(sub) or "") or {}
    bounds = _quantity_range(p, current)
    limits = f'min="{bounds[0]}" max="{bounds[1]}" ' if bounds else 'min="0" '
    return (
        '<label for="quantity">Quantity</label>'
        f'<input type="number" id="quantity" name="quantity" {limits}step="1" '
        f'value="{_current_quantity(sub)}" style="max-width:8rem">'
    )


def _preview(p: _Portal, sub: JSONDict, price_id: str, quantity: int | None, when: int) -> JSONDict:
    return portal_plan_preview(
        p.ctx,
        customer_id=p.customer["id"],
        subscription_id=sub["id"],
        item_id=_items(sub)[0]["id"],
        price_id=price_id,
        quantity=quantity,
        proration_behavior=_update_proration(p),
        when=when,
    )


def _update_proration(p: _Portal) -> str:
    return str(p.features["subscription_update"].get("proration_behavior") or "none")


def _proration_total(preview: JSONDict) -> int:
    total = 0
    for line in (preview.get("lines") or {}).get("data") or []:
        parent = line.get("parent") or {}
        details = (
            parent.get("subscription_item_details") or parent.get("invoice_item_details") or {}
        )
        if details.get("proration"):
            total += int(line.get("amount") or 0)
    return total


def _proration_notice(behaviour: str, prorated: int, total: int, cur: str | None) -> str:
    """What the plan change costs, in words; never a negative amount due.

    A credit larger than the next invoice goes to the customer's balance,
    which Stripe applies to the next invoices it finalizes
    (docs.stripe.com/billing/customer/balance: "Prorations from downgrading a
    subscription can indirectly create credits"). Stripe's docs do not quote
    the portal's own sentence; this says the same thing.
    """
    if behaviour == "none":
        return "No charge today. The new price applies from your next renewal."
    if behaviour == "always_invoice":
        if prorated < 0:
            return (
                f"No charge today. A credit of {money(-prorated, cur)} for unused time "
                "will be applied to your future invoices."
            )
        return f"Amount due today: {money(prorated, cur)}"
    if prorated >= 0:
        return (
            f"Prorated adjustment on your next invoice: {money(prorated, cur)}. "
            f"Next invoice total: {money(total, cur)}"
        )
    if total >= 0:
        return (
            f"A credit of {money(-prorated, cur)} for unused time will be deducted from "
            f"your next invoice. Next invoice total: {money(total, cur)}"
        )
    return (
        f"A credit of {money(-prorated, cur)} for unused time. Your next invoice will be "
        f"{money(0, cur)}, and the remaining credit of {money(-total, cur)} will be applied "
        "to your future invoices."
    )


@page("GET", "/portal/{secret}/subscriptions/{sub_id}/update/confirm")
def confirm_update(ctx: Ctx, req: PageRequest, secret: str, sub_id: str) -> Response:
    p = _Portal(ctx, secret)
    sub = p.subscription(sub_id)
    if not p.flag("subscription_update"):
        raise PageNotFound("Plan changes are not available.")
    price_id = req.value("price")
    allowed = {pr["id"] for pr in _allowed_prices(p, sub)}
    if price_id not in allowed:
        p.flash("Choose one of the plans listed.", "error")
        return redirect(f"{p.base}/subscriptions/{quote(sub_id)}/update")
    quantity, problem = _chosen_quantity(p, sub, price_id, req.value("quantity"))
    if problem:
        p.flash(problem, "error")
        return redirect(f"{p.base}/subscriptions/{quote(sub_id)}/update")
    when = ctx.now_for_customer(p.customer)
    old_name, old_text = _price_line(ctx, _current_price(sub))
    new_name, new_text = _price_line(ctx, price_id)
    new_quantity = _current_quantity(sub) if quantity is None else quantity
    if _current_quantity(sub) != 1:
        old_name += f" x {_current_quantity(sub)}"
    if new_quantity != 1:
        new_name += f" x {new_quantity}"
    preview = _preview(p, sub, price_id, quantity, when)
    prorated = _proration_total(preview)
    due = _proration_notice(
        _update_proration(p), prorated, int(preview.get("total") or 0), preview.get("currency")
    )
    next_date = date(
        preview.get("period_end") or preview.get("next_payment_attempt") or _period_end(sub)
    )
    qty_field = (
        f'<input type="hidden" name="quantity" value="{quantity}">' if quantity is not None else ""
    )
    body = (
        "<h1>Confirm your new plan</h1>"
        '<div class="card"><div class="table-wrap"><table aria-label="Plan change"><tbody>'
        f'<tr><th scope="row">Current plan</th><td>{esc(old_name)}</td><td class="num">{esc(old_text)}</td></tr>'
        f'<tr><th scope="row">New plan</th><td>{esc(new_name)}</td><td class="num">{esc(new_text)}</td></tr>'
        "</tbody></table></div>"
        f'<p class="proration">{esc(due)}</p>'
        f'<p class="muted small">Next renewal: {esc(next_date)}</p></div>'
        f'<form method="post" action="{esc(p.base)}/subscriptions/{esc(quote(sub_id))}/update/confirm">'
        f'{p.token()}<input type="hidden" name="price" value="{esc(price_id)}">{qty_field}'
        f'<input type="hidden" name="proration_date" value="{when}">'
        '<div class="actions"><button type="submit">Confirm</button>'
        f'<a class="button secondary" href="{esc(p.base)}/subscriptions/{esc(quote(sub_id))}/update">'
        "Go back</a></div></form>"
    )
    return p.render("Confirm plan change", body)


@page("POST", "/portal/{secret}/subscriptions/{sub_id}/update/confirm")
def do_update(ctx: Ctx, req: PageRequest, secret: str, sub_id: str) -> Response:
    p = _Portal(ctx, secret)
    if not p.check(req):
        return forbidden()
    sub = p.subscription(sub_id)
    price_id = req.value("price")
    if not p.flag("subscription_update") or price_id not in {
        pr["id"] for pr in _allowed_prices(p, sub)
    }:
        p.flash("That plan is not available.", "error")
        return redirect(p.base)
    quantity, problem = _chosen_quantity(p, sub, price_id, req.value("quantity"))
    if problem:
        p.flash(problem, "error")
        return redirect(f"{p.base}/subscriptions/{quote(sub_id)}/update")
    proration_date = req.value("proration_date")
    try:
        portal_plan_update(
            ctx,
            subscription=sub,
            item_id=_items(sub)[0]["id"],
            feature=p.features["subscription_update"],
            price_id=price_id,
            quantity=quantity,
            proration_behavior=_update_proration(p),
            proration_date=int(proration_date) if proration_date.isdigit() else None,
        )
    except StripeAPIError as exc:
        p.flash(f"Your plan could not be changed: {exc.message}", "error")
        return redirect(p.base)
    name, _ = _price_line(ctx, price_id)
    return p.finish_flow(f"Your plan was updated to {name}.")


# --------------------------------------------------------------------------
# cancel / renew


@page("GET", "/portal/{secret}/subscriptions/{sub_id}/cancel")
def cancel_plan(ctx: Ctx, req: PageRequest, secret: str, sub_id: str) -> Response:
    p = _Portal(ctx, secret)
    sub = p.subscription(sub_id)
    feature = p.features["subscription_cancel"]
    if not feature.get("enabled"):
        raise PageNotFound("Cancellation is not available in this portal.")
    name, text = _price_line(ctx, _current_price(sub))
    end = _period_end(sub)
    if feature.get("mode") == "immediately":
        what = "Your subscription will be canceled immediately."
    else:
        what = (
            f"Your subscription will be canceled, but it stays available until the end of your "
            f"billing period on {date(end)}."
        )
    reasons = ""
    reason_cfg = feature.get("cancellation_reason") or {}
    if reason_cfg.get("enabled"):
        opts = "".join(
            f'<label class="radio" for="reason_{esc(o)}"><input type="radio" name="reason" '
            f'id="reason_{esc(o)}" value="{esc(o)}"> {esc(REASON_LABELS.get(o, o))}</label>'
            for o in reason_cfg.get("options") or []
        )
        reasons = (
            f"<fieldset><legend>Tell us why you're canceling (optional)</legend>{opts}"
            '<label for="comment">Anything else?</label>'
            '<textarea id="comment" name="comment" rows="2"></textarea></fieldset>'
        )
    retention = ""
    flow = p.session.get("flow") or {}
    offer = ((flow.get("subscription_cancel") or {}).get("retention") or {}).get("coupon_offer")
    if offer and not p.session.get("_flow_done"):
        coupon = ctx.find("coupon", offer["coupon"]) or {}
        off = (
            f"{coupon['percent_off']:g}% off"
            if coupon.get("percent_off")
            else money(coupon.get("amount_off"), coupon.get("currency")) + " off"
        )
        retention = (
            f'<div class="card"><h2>Before you go</h2><p>Stay and get {esc(off)}.</p>'
            f'<form method="post" action="{esc(p.base)}/subscriptions/{esc(quote(sub_id))}/retain">'
            f'{p.token()}<button type="submit" class="secondary">Accept offer</button></form></div>'
        )
    body = (
        f"<h1>Cancel your plan</h1>{p.take_flash()}"
        f'<div class="card"><h3>{esc(name)}</h3><p class="muted">{esc(text)}</p>'
        f"<p>{esc(what)}</p></div>{retention}"
        f'<form method="post" action="{esc(p.base)}/subscriptions/{esc(quote(sub_id))}/cancel">'
        f"{p.token()}{reasons}"
        '<div class="actions"><button type="submit" class="danger">Cancel plan</button>'
        f'<a class="button secondary" href="{esc(p.base)}">Go back</a></div></form>'
    )
    return p.render("Cancel plan", body)


@page("POST", "/portal/{secret}/subscriptions/{sub_id}/cancel")
def do_cancel(ctx: Ctx, req: PageRequest, secret: str, sub_id: str) -> Response:
    p = _Portal(ctx, secret)
    if not p.check(req):
        return forbidden()
    sub = p.subscription(sub_id)
    feature = p.features["subscription_cancel"]
    if not feature.get("enabled"):
        raise PageNotFound("Cancellation is not available in this portal.")
    try:
        ended_now = portal_subscription_cancel(
            ctx,
            sub_id=sub_id,
            feature=feature,
            reason=req.value("reason"),
            comment=req.value("comment"),
        )
    except StripeAPIError as exc:
        p.flash(f"Your plan could not be canceled: {exc.message}", "error")
        return redirect(p.base)
    if ended_now:
        return p.finish_flow("Your plan has been canceled.")
    return p.finish_flow(f"Your plan will be canceled on {date(_period_end(sub))}.")


@page("POST", "/portal/{secret}/subscriptions/{sub_id}/retain")
def do_retain(ctx: Ctx, req: PageRequest, secret: str, sub_id: str) -> Response:
    p = _Portal(ctx, secret)
    if not p.check(req):
        return forbidden()
    p.subscription(sub_id)
    flow = p.session.get("flow") or {}
    offer = ((flow.get("subscription_cancel") or {}).get("retention") or {}).get("coupon_offer")
    if not offer:
        raise PageNotFound("There is no offer on this page.")
    portal_retention_accept(ctx, sub_id=sub_id, coupon=offer["coupon"])
    return p.finish_flow("The discount was applied to your plan.")


@page("POST", "/portal/{secret}/subscriptions/{sub_id}/renew")
def do_renew(ctx: Ctx, req: PageRequest, secret: str, sub_id: str) -> Response:
    p = _Portal(ctx, secret)
    if not p.check(req):
        return forbidden()
    portal_subscription_renew(ctx, subscription=p.subscription(sub_id))
    p.flash("Your plan will renew as usual.")
    return redirect(p.base)


# --------------------------------------------------------------------------
# payment method


def _pm_form(p: _Portal, error: str = "") -> Response:
    body = (
        f"<h1>Update payment method</h1>{p.take_flash()}"
        f'<form method="post" class="card" novalidate>{p.token()}{notice(error)}'
        '<label for="card_number">Card number</label>'
        '<input type="text" id="card_number" name="card_number" inputmode="numeric" '
        'autocomplete="cc-number" placeholder="1234 1234 1234 1234" required>'
        '<div class="row"><div><label for="card_expiry">Expiration (MM / YY)</label>'
        '<input type="text" id="card_expiry" name="card_expiry" autocomplete="cc-exp" '
        'placeholder="MM / YY"></div>'
        '<div><label for="card_cvc">CVC</label>'
        '<input type="text" id="card_cvc" name="card_cvc" inputmode="numeric" '
        'autocomplete="cc-csc" placeholder="CVC"></div></div>'
        '<label for="cardholder_name">Cardholder name</label>'
        '<input type="text" id="cardholder_name" name="cardholder_name" autocomplete="cc-name">'
        '<div class="actions"><button type="submit">Save payment method</button>'
        f'<a class="button secondary" href="{esc(p.base)}">Go back</a></div></form>'
    )
    return p.render("Update payment method", body, 200)


@page("GET", "/portal/{secret}/payment-method")
def payment_method(ctx: Ctx, req: PageRequest, secret: str) -> Response:
    p = _Portal(ctx, secret)
    if not p.flag("payment_method_update"):
        raise PageNotFound("Payment method updates are not available in this portal.")
    return _pm_form(p)


@page("POST", "/portal/{secret}/payment-method")
def do_payment_method(ctx: Ctx, req: PageRequest, secret: str) -> Response:
    """Save a card through a SetupIntent (3-D Secure when the card asks for it)."""
    p = _Portal(ctx, secret)
    if not p.check(req):
        return forbidden()
    if not p.flag("payment_method_update"):
        raise PageNotFound("Payment method updates are not available in this portal.")
    number = req.value("card_number").replace(" ", "").replace("-", "")
    if not number:
        return _pm_form(p, "Your card number is incomplete.")
    month, year = parse_expiry(req.value("card_expiry"))
    try:
        pm = build_card_payment_method(
            ctx,
            number,
            exp_month=month or 12,
            exp_year=year,
            cvc=req.value("card_cvc") or None,
            billing_details={"name": req.value("cardholder_name") or None},
        )
    except StripeAPIError as exc:
        if exc.type == "card_error":
            return _pm_form(p, exc.message)
        raise
    seti = portal_card_setup(ctx, customer=p.customer, payment_method_id=pm["id"])
    if seti["status"] == "requires_action":
        p.session["_pending_setup_intent"] = seti["id"]
        ctx.save(p.session)
        back = quote(f"{p.base}/payment-method/finish")
        return redirect(f"/3ds/{quote(seti['id'])}?return_to={back}")
    if seti["status"] != "succeeded":
        error = seti.get("last_setup_error") or {}
        return _pm_form(p, str(error.get("message") or "Your card was declined."))
    return _use_payment_method(p, pm["id"])


@page("GET", "/portal/{secret}/payment-method/finish")
def finish_payment_method(ctx: Ctx, req: PageRequest, secret: str) -> Response:
    """Where the 3-D Secure page returns to after a SetupIntent challenge."""
    p = _Portal(ctx, secret)
    seti_id = p.session.pop("_pending_setup_intent", None)
    ctx.save(p.session)
    seti = ctx.find("setup_intent", str(seti_id)) if seti_id else None
    if seti is None:
        return redirect(p.base)
    if seti.get("status") != "succeeded":
        p.flash(
            "We are unable to authenticate your payment method. Please choose a different "
            "payment method and try again.",
            "error",
        )
        return redirect(f"{p.base}/payment-method")
    return _use_payment_method(p, str(seti["payment_method"]))


def _use_payment_method(p: _Portal, pm_id: str) -> Response:
    """Make `pm_id` the default everywhere, then pay what is overdue with it."""
    failure = portal_payment_method_use(
        p.ctx, customer_id=p.customer["id"], payment_method_id=pm_id
    )
    if failure is None:
        return p.finish_flow("Your payment method was updated.")
    if failure.requires_action_intent:
        pi_id = failure.requires_action_intent
        return redirect(f"/3ds/{quote(pi_id)}?return_to={quote(p.base)}")
    p.flash(f"Your card was saved, but the payment failed: {failure.error.message}", "error")
    return redirect(p.base)


# --------------------------------------------------------------------------
# billing information (features.customer_update)

_CUSTOMER_FIELDS = (
    ("name", "Name", "text", "name"),
    ("email", "Email", "email", "email"),
    ("phone", "Phone", "text", "tel"),
)
_ADDRESS_FIELDS = (
    ("line1", "Address line 1", "address-line1"),
    ("line2", "Address line 2 (optional)", "address-line2"),
    ("city", "City", "address-level2"),
    ("state", "State or region (optional)", "address-level1"),
    ("postal_code", "Postal code", "postal-code"),
    ("country", "Country (2-letter code)", "country"),
)


def _allowed_updates(p: _Portal) -> set[str]:
    feature = p.features.get("customer_update") or {}
    return set(feature.get("allowed_updates") or []) if feature.get("enabled") else set()


def _editable_fields(p: _Portal) -> list[tuple[str, str, str, str]]:
    allowed = _allowed_updates(p)
    return [f for f in _CUSTOMER_FIELDS if f[0] in allowed]


def _edits_address(p: _Portal) -> bool:
    return "address" in _allowed_updates(p)


def _customer_form(p: _Portal, error: str = "", values: dict[str, str] | None = None) -> Response:
    values = values or {}
    rows = "".join(
        f'<label for="{key}">{label}</label>'
        f'<input type="{kind}" id="{key}" name="{key}" autocomplete="{auto}" '
        f'value="{esc(values.get(key, p.customer.get(key) or ""))}">'
        for key, label, kind, auto in _editable_fields(p)
    )
    if _edits_address(p):
        current = p.customer.get("address") or {}
        rows += (
            "<fieldset><legend>Billing address</legend>"
            + "".join(
                f'<label for="address_{key}">{label}</label>'
                f'<input type="text" id="address_{key}" name="address_{key}" autocomplete="{auto}" '
                f'value="{esc(values.get("address_" + key, current.get(key) or ""))}">'
                for key, label, auto in _ADDRESS_FIELDS
            )
            + "</fieldset>"
        )
    body = (
        "<h1>Update information</h1>"
        f'<form method="post" class="card" novalidate>{p.token()}{notice(error)}{rows}'
        '<div class="actions"><button type="submit">Save information</button>'
        f'<a class="button secondary" href="{esc(p.base)}">Go back</a></div></form>'
    )
    return p.render("Update information", body)


@page("GET", "/portal/{secret}/customer")
def customer_info(ctx: Ctx, req: PageRequest, secret: str) -> Response:
    p = _Portal(ctx, secret)
    if not _editable_fields(p) and not _edits_address(p):
        raise PageNotFound("Billing information cannot be changed in this portal.")
    return _customer_form(p)


@page("POST", "/portal/{secret}/customer")
def do_customer_info(ctx: Ctx, req: PageRequest, secret: str) -> Response:
    p = _Portal(ctx, secret)
    if not p.check(req):
        return forbidden()
    fields = _editable_fields(p)
    if not fields and not _edits_address(p):
        raise PageNotFound("Billing information cannot be changed in this portal.")
    values = {key: req.value(key) for key, _, _, _ in fields}
    email = values.get("email")
    if email is not None and ("@" not in email or len(email) > 512):
        return _customer_form(p, "Enter a valid email address.", values)
    params: JSONDict = {
        key: value for key, value in values.items() if value != (p.customer.get(key) or "")
    }
    if _edits_address(p):
        address = {key: req.value(f"address_{key}") for key, _, _ in _ADDRESS_FIELDS}
        address["country"] = address["country"].upper()
        if address["country"] and len(address["country"]) != 2:
            shown = {**values, **{f"address_{k}": v for k, v in address.items()}}
            return _customer_form(p, "Enter the country as a 2-letter code, e.g. US.", shown)
        current = p.customer.get("address") or {}
        if any(address[k] != (current.get(k) or "") for k in address):
            params["address"] = {k: v for k, v in address.items() if v}
    if params:
        customer_update(ctx, params, p.customer["id"])
    p.flash("Your billing information was updated.")
    return redirect(p.base)
