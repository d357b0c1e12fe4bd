"""Hosted Checkout (`session.url` = /checkout/{id}) and the 3-D Secure page (/3ds/{id}).

The checkout form posts back to its own URL. Labels the e2e tests rely on:
"Email", "Card number", "Expiration" (MM / YY), "CVC", "Cardholder name",
"Promotion code" (button "Apply"); the submit button reads "Subscribe",
"Start trial" (subscription with a trial), "Pay" (payment mode) or "Save card"
(setup mode). The 3DS page has "Complete authentication" and "Fail
authentication".
"""

from __future__ import annotations

import re
from typing import Any

from ..context import Ctx
from ..engine.account import account_object, public_details
from ..engine.checkout import (
    ADDRESS_KEYS,
    CardInput,
    Outcome,
    apply_promotion_code,
    card_required,
    finish_authentication,
    load_session,
    needs_address,
    needs_phone,
    needs_terms,
    start_completion,
)
from ..engine.checkout_tax import collects_tax_id
from ..response import Response
from .html import (
    document,
    esc,
    forbidden,
    hidden_token,
    html_response,
    interval_text,
    money,
    notice,
    redirect,
    token_ok,
)
from .registry import PageNotFound, PageRequest, page

JSONDict = dict[str, Any]


def business_name(ctx: Ctx) -> str:
    account = account_object(ctx)
    profile = account.get("business_profile") or {}
    settings = (account.get("settings") or {}).get("dashboard") or {}
    return str(profile.get("name") or settings.get("display_name") or "Stripe emulator")


def _session(ctx: Ctx, session_id: str) -> JSONDict:
    if not session_id.startswith("cs_"):
        raise PageNotFound("There is no checkout session at this address.")
    if ctx.find("checkout.session", session_id) is None:
        raise PageNotFound("This checkout session does not exist.")
    return load_session(ctx, session_id)


def _trial_days(session: JSONDict, now: int) -> int:
    data = session.get("_subscription_data") or {}
    if data.get("trial_period_days"):
        return int(data["trial_period_days"])
    if data.get("trial_end"):
        return max(1, (int(data["trial_end"]) - now + 86399) // 86400)
    return 0


def submit_label(session: JSONDict) -> str:
    mode = session["mode"]
    if mode == "setup":
        return "Save card"
    if mode == "payment":
        return "Pay"
    return "Start trial" if _trial_days(session, int(session["created"])) else "Subscribe"


def _summary(ctx: Ctx, session: JSONDict) -> str:
    currency = session.get("currency")
    trial = _trial_days(session, int(session["created"]))
    rows = []
    recurring_total = 0
    interval = ""
    for item in session.get("_line_items") or []:
        price = ctx.find("price", str(item["price"])) or {}
        qty = item.get("quantity") or 1
        unit = int(price.get("unit_amount") or 0)
        recurring = price.get("recurring")
        if recurring:
            recurring_total += unit * int(qty)
            interval = interval_text(recurring)
        when = interval_text(recurring) if recurring else "one time"
        qty_text = f'<div class="muted small">Qty {esc(qty)}</div>' if int(qty) > 1 else ""
        line_amount = money(unit * int(qty), currency)
        if trial and recurring and session["mode"] == "subscription":
            line_amount = f"{trial} days free"
        rows.append(
            f"<tr><td><strong>{esc(item.get('description') or price.get('id'))}</strong>"
            f'{qty_text}<div class="muted small">{esc(money(unit, currency))} {esc(when)}</div>'
            f'</td><td class="num">{esc(line_amount)}</td></tr>'
        )
    total = session.get("amount_total")
    details = session.get("total_details") or {}
    discount_row = ""
    if details.get("amount_discount"):
        code = ""
        if session.get("discounts"):
            promo_id = session["discounts"][0].get("promotion_code")
            promo = ctx.find("promotion_code", str(promo_id)) if promo_id else None
            coupon = ctx.find("coupon", str(session["discounts"][0].get("coupon")))
            code = (promo or {}).get("code") or (coupon or {}).get("name") or ""
        discount_row = (
            f"<tr><td>Discount {esc(code)}</td>"
            f'<td class="num">{esc(money(-int(details["amount_discount"]), currency))}</td></tr>'
        )
    trial_note = ""
    heading_amount = money(total, currency) if total is not None else ""
    if session["mode"] == "subscription" and trial:
        today = (
            "You won't be charged today."
            if not total
            else f"Due today: {money(total, currency)} for one-time items."
        )
        trial_note = notice(
            f"{trial} days free, then {money(recurring_total, currency)} {interval}. {today}",
            "info",
        )
        heading = f"Try {esc(_product_names(session))}"
        sub = f'<div class="amount">{trial} days free</div>'
    else:
        heading = (
            f"Subscribe to {esc(_product_names(session))}"
            if session["mode"] == "subscription"
            else esc(_product_names(session) or "Save a card")
        )
        suffix = f' <span class="muted small">{esc(interval)}</span>' if interval else ""
        sub = f'<div class="amount">{esc(heading_amount)}{suffix}</div>' if heading_amount else ""
    subtotal_row = after_trial_row = ""
    if session["mode"] == "subscription" and trial:
        after_trial_row = (
            f'<tr><td>Total after trial</td><td class="num">'
            f"{esc(money(recurring_total, currency))} {esc(interval)}</td></tr>"
        )
    else:
        subtotal_row = (
            f'<tr><td>Subtotal</td><td class="num">'
            f"{esc(money(session.get('amount_subtotal'), currency))}</td></tr>"
        )
    table = ""
    if rows:
        table = (
            '<div class="table-wrap"><table aria-label="Order summary"><thead><tr>'
            '<th scope="col">Item</th><th scope="col" class="num">Amount</th></tr></thead>'
            f"<tbody>{''.join(rows)}"
            f"{subtotal_row}{discount_row}{_tax_row(session)}{after_trial_row}"
            f'<tr class="total"><td>Total due today</td><td class="num">'
            f"{esc(money(total, currency))}</td></tr></tbody></table></div>"
        )
    return f"<h1>{heading}</h1>{sub}{trial_note}{table}"


def _tax_row(session: JSONDict) -> str:
    """The tax line of the summary: the amount, or that the address decides it."""
    details = session.get("total_details") or {}
    auto = session.get("automatic_tax") or {}
    if auto.get("enabled") and auto.get("status") == "requires_location_inputs":
        return '<tr><td>Tax</td><td class="num muted small">Calculated from your address</td></tr>'
    if not details.get("amount_tax"):
        return ""
    return (
        f'<tr><td>Tax</td><td class="num">'
        f"{esc(money(int(details['amount_tax']), session.get('currency')))}</td></tr>"
    )


def _tax_id_fields(session: JSONDict, values: dict[str, str]) -> str:
    """tax_id_collection: buying as a business, with the business name and one tax ID."""
    if not collects_tax_id(session):
        return ""
    checked = " checked" if values.get("is_business") else ""
    return (
        "<fieldset><legend>Business purchase</legend>"
        '<label class="radio" for="is_business"><input type="checkbox" id="is_business" '
        f'name="is_business" value="yes"{checked}> I\'m purchasing as a business</label>'
        '<label for="business_name">Business name</label>'
        '<input type="text" id="business_name" name="business_name" autocomplete="organization" '
        f'value="{esc(values.get("business_name", ""))}">'
        '<label for="tax_id">Tax ID (for example DE123456789)</label>'
        '<input type="text" id="tax_id" name="tax_id" '
        f'value="{esc(values.get("tax_id", ""))}">'
        '<p class="muted small">The tax ID type follows the billing address country '
        "(EU VAT, UK VAT, US EIN, Australian ABN, Swiss VAT).</p></fieldset>"
    )


def _product_names(session: JSONDict) -> str:
    names = [str(i.get("description") or "") for i in session.get("_line_items") or []]
    names = [n for n in names if n]
    return ", ".join(names[:2]) + (f" and {len(names) - 2} more" if len(names) > 2 else "")


def _promo_form(ctx: Ctx, session: JSONDict, error: str | None) -> str:
    if not session.get("allow_promotion_codes"):
        return ""
    applied = ""
    if session.get("discounts") and session["discounts"][0].get("promotion_code"):
        promo = ctx.find("promotion_code", str(session["discounts"][0]["promotion_code"]))
        applied = notice(f"Code {promo['code'] if promo else ''} applied.", "ok")
    err = notice(error) if error else ""
    return (
        f'<form method="post" class="card" novalidate>{hidden_token(ctx, session["id"])}'
        '<input type="hidden" name="action" value="apply_promotion_code">'
        f"{applied}{err}"
        '<label for="promotion_code">Promotion code</label>'
        '<div class="row"><input type="text" id="promotion_code" name="promotion_code" '
        'autocomplete="off">'
        '<button type="submit" class="secondary">Apply</button></div></form>'
    )


def render_checkout(
    ctx: Ctx,
    session: JSONDict,
    *,
    error: str | None = None,
    promo_error: str | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    values = values or {}
    brand = business_name(ctx)
    back = ""
    if session.get("cancel_url"):
        back = (
            f'<a class="back" href="{esc(session["cancel_url"])}">&larr; Back to {esc(brand)}</a>'
        )
    if session["status"] != "open":
        if session["status"] == "complete":
            link = (
                f'<p><a class="button" href="{esc(_success(session))}">Continue</a></p>'
                if session.get("success_url")
                else ""
            )
            body = (
                '<div class="card"><h1>Thanks for your order</h1>'
                '<p class="muted">This checkout session is complete.</p>'
                f"{link}</div>"
            )
        else:
            body = (
                f'{back}<div class="card"><h1>This checkout session has expired</h1>'
                '<p class="muted">Go back and start again to get a new one.</p></div>'
            )
        return html_response(document(f"{brand} checkout", body, brand=brand, narrow=True), status)

    customer = ctx.find("customer", session["customer"]) if session.get("customer") else None
    known_email = (customer or {}).get("email") or session.get("customer_email")
    email = known_email or values.get("email", "")
    readonly = " readonly" if known_email else ""
    need_card = card_required(ctx, session)
    card_fields = (
        "<fieldset><legend>Card information</legend>"
        '<label for="card_number">Card number</label>'
        '<input type="text" id="card_number" name="card_number" inputmode="numeric" '
        'autocomplete="cc-number" placeholder="1234 1234 1234 1234"'
        f"{' required' if need_card else ''}>"
        '<div class="row"><div><label for="card_expiry">Expiration (MM / YY)</label>'
        '<input type="text" id="card_expiry" name="card_expiry" autocomplete="cc-exp" '
        'placeholder="MM / YY"></div>'
        '<div><label for="card_cvc">CVC</label>'
        '<input type="text" id="card_cvc" name="card_cvc" inputmode="numeric" '
        'autocomplete="cc-csc" placeholder="CVC"></div></div>'
        '<label for="cardholder_name">Cardholder name</label>'
        '<input type="text" id="cardholder_name" name="cardholder_name" autocomplete="cc-name" '
        f'value="{esc(values.get("cardholder_name", ""))}">'
        '<p class="muted small">Test mode: use 4242 4242 4242 4242, any future date and any '
        "CVC. 4000 0000 0000 0002 declines; 4000 0025 0000 3155 asks for 3-D Secure.</p>"
        "</fieldset>"
    )
    saved = saved_card(ctx, session)
    if saved is not None:
        card = saved.get("card") or {}
        chosen = values.get("saved_payment_method", saved["id"])
        card_fields = (
            "<fieldset><legend>Saved card</legend>"
            f'<label class="radio" for="saved_pm"><input type="radio" id="saved_pm" '
            f'name="saved_payment_method" value="{esc(saved["id"])}"'
            f"{' checked' if chosen == saved['id'] else ''}> "
            f"{esc(str(card.get('brand', 'card')).title())} ending in {esc(card.get('last4'))}"
            "</label>"
            '<label class="radio" for="new_card"><input type="radio" id="new_card" '
            f'name="saved_payment_method" value="new"{" checked" if chosen == "new" else ""}> '
            "Use a new card (fill in below)</label></fieldset>" + card_fields
        )
    if not need_card:
        card_fields = (
            notice("No payment method is needed today.", "info")
            + "<details><summary>Add a card now (optional)</summary>"
            + card_fields
            + "</details>"
        )
    form = (
        f'<form method="post" class="card" novalidate>{hidden_token(ctx, session["id"])}'
        '<input type="hidden" name="action" value="pay">'
        f"<h2>{'Pay with card' if need_card else 'Contact information'}</h2>"
        f"{notice(error)}"
        '<label for="email">Email</label>'
        f'<input type="email" id="email" name="email" autocomplete="email" '
        f'value="{esc(email)}"{readonly} required>'
        f"{card_fields}{_extra_fields(session, values)}"
        f'<button type="submit" class="block">{esc(submit_label(session))}</button>'
        f"{_custom_message(session, 'submit')}{_custom_message(session, 'after_submit')}"
        "</form>"
    )
    body = (
        f"{back}"
        f'<div class="split"><section aria-label="Order summary"><p class="muted">{esc(brand)}</p>'
        f"{_summary(ctx, session)}{_promo_form(ctx, session, promo_error)}</section>"
        f'<section aria-label="Payment">{form}</section></div>{legal_links(ctx)}'
    )
    return html_response(document(f"{brand} checkout", body, brand=brand), status)


def legal_links(ctx: Ctx) -> str:
    """The business's Terms and Privacy links from its public details, when set.

    Stripe's Checkout shows them from the account's public details
    (docs.stripe.com/payments/checkout/customization/policies).
    """
    details = public_details(ctx)
    links = [
        f'<a href="{esc(details[key])}">{label}</a>'
        for key, label in (("terms_of_service_url", "Terms"), ("privacy_policy_url", "Privacy"))
        if details[key]
    ]
    return f'<p class="small muted">{" · ".join(links)}</p>' if links else ""


_ADDRESS_FIELDS = (
    ("address_line1", "Address line 1", "address-line1"),
    ("address_line2", "Address line 2 (optional)", "address-line2"),
    ("address_city", "City", "address-level2"),
    ("address_state", "State or region (optional)", "address-level1"),
    ("address_postal_code", "Postal code", "postal-code"),
    ("address_country", "Country (2-letter code)", "country"),
)


# Without script the page cannot drop the field when a country has no postal
# codes, as Stripe's does: it says so, and the engine does not require one there.
_ADDRESS_HINTS = {
    "address_postal_code": ' aria-describedby="address_postal_code_hint">'
    '<p class="small muted" id="address_postal_code_hint">Leave empty where there are '
    "no postal codes (Hong Kong, Macao, the UAE, …).</p>",
}


def _extra_fields(session: JSONDict, values: dict[str, str]) -> str:
    """Billing address, phone and terms consent, when the session asks for them."""
    out = []
    if needs_address(session):
        rows = "".join(
            f'<label for="{key}">{label}</label><input type="text" id="{key}" name="{key}" '
            f'autocomplete="{auto}" value="{esc(values.get(key, ""))}"'
            f"{_ADDRESS_HINTS.get(key, '>')}"
            for key, label, auto in _ADDRESS_FIELDS
        )
        out.append(f"<fieldset><legend>Billing address</legend>{rows}</fieldset>")
    out.append(_tax_id_fields(session, values))
    if needs_phone(session):
        out.append(
            '<label for="phone">Phone number</label><input type="text" id="phone" name="phone" '
            f'inputmode="tel" autocomplete="tel" value="{esc(values.get("phone", ""))}">'
        )
    if needs_terms(session):
        custom = (session.get("custom_text") or {}).get("terms_of_service_acceptance")
        text = custom["message"] if custom else "I agree to the Terms of Service"
        out.append(
            '<label class="radio" for="terms"><input type="checkbox" id="terms" name="terms" '
            f'value="accepted"> {esc(text)}</label>'
        )
    return "".join(out)


def _custom_message(session: JSONDict, key: str) -> str:
    custom = (session.get("custom_text") or {}).get(key)
    if not custom:
        return ""
    return f'<p class="muted small" style="margin-top:.8rem">{esc(custom["message"])}</p>'


def saved_card(ctx: Ctx, session: JSONDict) -> JSONDict | None:
    """The known customer's card Checkout offers: the default one, else the latest."""
    if session["mode"] != "subscription" or not session.get("customer"):
        return None
    customer = ctx.find("customer", str(session["customer"])) or {}
    default = (customer.get("invoice_settings") or {}).get("default_payment_method")
    pm = ctx.find("payment_method", str(default)) if default else None
    if pm is None or pm.get("type") != "card" or pm.get("customer") != customer.get("id"):
        cards = ctx.store.all(
            "payment_method",
            lambda m: m.get("customer") == customer.get("id") and m.get("type") == "card",
        )
        pm = cards[0] if cards else None
    return pm


def _success(session: JSONDict) -> str:
    return str(session.get("success_url") or "").replace(
        "{CHECKOUT_SESSION_ID}", str(session["id"])
    )


def parse_expiry(raw: str) -> tuple[int | None, int | None]:
    """'12 / 34', '12/2034', '1234' -> (12, 2034); (None, None) when empty or garbled."""
    digits = re.findall(r"\d+", raw)
    if len(digits) == 1 and len(digits[0]) in (4, 6):
        digits = [digits[0][:2], digits[0][2:]]
    if len(digits) != 2:
        return None, None
    month, year = int(digits[0]), int(digits[1])
    if year < 100:
        year += 2000
    return month, year


@page("GET", "/checkout/{id}")
def checkout_get(ctx: Ctx, req: PageRequest, id: str) -> Response:
    session = _session(ctx, id)
    flash = session.pop("_flash", None)
    if flash:
        ctx.save(session)
    return render_checkout(ctx, session, error=flash)


@page("POST", "/checkout/{id}")
def checkout_post(ctx: Ctx, req: PageRequest, id: str) -> Response:
    session = _session(ctx, id)
    if not token_ok(ctx, session["id"], req.form.get("token", "")):
        return forbidden()
    if session["status"] != "open":
        return render_checkout(ctx, session, status=409)
    keys = ["email", "cardholder_name", "phone", "saved_payment_method"]
    keys += ["is_business", "business_name", "tax_id"]
    keys += [f[0] for f in _ADDRESS_FIELDS]
    values = {k: req.value(k) for k in keys}
    if req.value("action") == "apply_promotion_code":
        problem = apply_promotion_code(ctx, session, req.value("promotion_code"))
        ctx.save(session)
        return render_checkout(ctx, session, promo_error=problem, values=values)
    month, year = parse_expiry(req.value("card_expiry"))
    number = req.value("card_number")
    if number and req.value("card_expiry") and month is None:
        return render_checkout(
            ctx, session, error="Your card's expiration date is incomplete.", values=values
        )
    card = CardInput(
        number=number,
        exp_month=month,
        exp_year=year,
        cvc=req.value("card_cvc"),
        name=req.value("cardholder_name"),
        address={
            key: req.value(f"address_{key}") for key in ADDRESS_KEYS if req.value(f"address_{key}")
        },
        phone=req.value("phone"),
        accepted_terms=req.value("terms") == "accepted",
    )
    if req.value("is_business") == "yes":
        card.tax_id = req.value("tax_id").strip()
        card.business_name = req.value("business_name").strip()
    if card.address.get("country"):
        card.address["country"] = card.address["country"].upper()
    saved = saved_card(ctx, session)
    choice = req.value("saved_payment_method")
    if not number and saved is not None and choice == saved["id"]:
        # A typed card number always wins; otherwise the saved card is used.
        card.payment_method = saved["id"]
    outcome = start_completion(
        ctx,
        session,
        email=req.value("email"),
        card=card,
        promotion_code=req.value("promotion_code"),
    )
    return _after(ctx, outcome, values)


def _after(ctx: Ctx, outcome: Outcome, values: dict[str, str]) -> Response:
    if outcome.status == "complete":
        url = outcome.redirect_url
        return redirect(url or f"/checkout/{outcome.session['id']}")
    if outcome.status == "requires_action":
        return redirect(outcome.challenge)
    return render_checkout(ctx, outcome.session, error=outcome.message, values=values)


# --------------------------------------------------------------------------
# 3-D Secure


def _safe_return(path: str) -> str:
    """Only same-site relative paths are followed after authentication."""
    if path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return ""


def _intent(ctx: Ctx, intent_id: str) -> JSONDict:
    for kind in ("payment_intent", "setup_intent"):
        obj = ctx.find(kind, intent_id)
        if obj is not None:
            return obj
    raise PageNotFound("There is no payment waiting for authentication at this address.")


def _challenge_page(
    ctx: Ctx, object_id: str, amount: int | None, currency: str | None, return_to: str
) -> Response:
    brand = business_name(ctx)
    what = f"a payment of {money(amount, currency)}" if amount else "saving your card"
    back = f'<input type="hidden" name="return_to" value="{esc(return_to)}">' if return_to else ""
    body = (
        '<div class="card"><h1>3D Secure 2 test page</h1>'
        f"<p>{esc(brand)} has asked your bank to confirm {esc(what)}.</p>"
        '<p class="muted small">This stands in for the bank\'s authentication screen. '
        "Choose an outcome.</p>"
        f'<form method="post">{hidden_token(ctx, object_id)}{back}'
        '<div class="actions">'
        '<button type="submit" name="action" value="complete">Complete authentication</button>'
        '<button type="submit" name="action" value="fail" class="secondary">'
        "Fail authentication</button></div></form></div>"
    )
    return html_response(document("Authenticate your payment", body, brand=brand, narrow=True))


@page("GET", "/3ds/{id}")
def threeds_get(ctx: Ctx, req: PageRequest, id: str) -> Response:
    return_to = _safe_return(req.value("return_to"))
    if id.startswith("cs_"):
        session = _session(ctx, id)
        if session["status"] != "open" or not session.get("_pending"):
            return redirect(f"/checkout/{id}")
        return _challenge_page(
            ctx, id, session.get("amount_total"), session.get("currency"), return_to
        )
    intent = _intent(ctx, id)
    if intent.get("status") != "requires_action":
        return _done_page(ctx, intent, return_to)
    return _challenge_page(ctx, id, intent.get("amount"), intent.get("currency"), return_to)


@page("POST", "/3ds/{id}")
def threeds_post(ctx: Ctx, req: PageRequest, id: str) -> Response:
    if not token_ok(ctx, id, req.form.get("token", "")):
        return forbidden()
    succeed = req.value("action") == "complete"
    return_to = _safe_return(req.value("return_to"))
    if id.startswith("cs_"):
        session = _session(ctx, id)
        outcome = finish_authentication(ctx, session, succeed=succeed)
        if outcome.status == "complete":
            return redirect(outcome.redirect_url or f"/checkout/{id}")
        if outcome.message:
            outcome.session["_flash"] = outcome.message
            ctx.save(outcome.session)
        return redirect(f"/checkout/{id}")
    from .. import engine

    intent = _intent(ctx, id)
    next_action = intent.get("next_action") or {}
    target = str((next_action.get("redirect_to_url") or {}).get("return_url") or "")
    if intent.get("status") == "requires_action":
        if intent["object"] == "setup_intent":
            intent = engine.setup_intent_authenticate(ctx, id, succeed=succeed)
        else:
            intent = engine.payment_intent_authenticate(ctx, id, succeed=succeed)
    if return_to:
        return redirect(return_to)
    if target:
        return redirect(target)
    return _done_page(ctx, intent, "")


def _done_page(ctx: Ctx, intent: JSONDict, return_to: str) -> Response:
    status = intent.get("status")
    ok = status in ("succeeded", "processing", "requires_capture")
    msg = (
        "Authentication complete. The payment went through."
        if ok
        else "Authentication did not complete; the payment was not made."
        if status != "requires_action"
        else "This payment is still waiting for authentication."
    )
    link = f'<p><a href="{esc(return_to)}">Continue</a></p>' if return_to else ""
    body = (
        f'<div class="card"><h1>{"Payment authenticated" if ok else "Payment not authenticated"}'
        f"</h1>{notice(msg, 'ok' if ok else 'error')}{link}</div>"
    )
    return html_response(document("Authentication", body, brand=business_name(ctx), narrow=True))
