"""Money formatting for pages and emails."""

from __future__ import annotations

from decimal import Decimal

ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)
SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "cad": "CA$", "aud": "A$", "chf": "CHF "}


def format_money(amount: int, currency: str) -> str:
    """Format an amount in minor units; whole amounts drop the decimals."""
    currency = currency.lower()
    if currency in ZERO_DECIMAL:
        value = Decimal(amount)
        text = f"{value:,.0f}"
    else:
        value = Decimal(amount) / 100
        text = f"{value:,.0f}" if value == value.to_integral() else f"{value:,.2f}"
    symbol = SYMBOLS.get(currency)
    if symbol:
        sign = "-" if amount < 0 else ""
        return f"{sign}{symbol}{text.lstrip('-')}"
    return f"{text} {currency.upper()}"
