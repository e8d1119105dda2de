"""Text for Block Kit: escaping, cutting to Slack's limits, and times/prices in the user's language.

Every string comes from the catalogue (`bot.i18n.Catalog`); this module only assembles them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from bot.i18n import Catalog
from bot.rules.pricing import Charge

ELLIPSIS = "…"
MRKDWN_LIMIT = 3000  # section text, and a sane cap for any mrkdwn object

_CURRENCY_SYMBOLS = {"USD": "US$", "BRL": "R$", "EUR": "€", "GBP": "£"}
# An entity produced by escape_mrkdwn; cutting inside one would leave a broken "&am".
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")


def currency_symbol(code: str) -> str:
    """How people write the currency ("US$", "R$"); an unknown one as its ISO code."""
    return _CURRENCY_SYMBOLS.get(code.upper(), code.upper())


def escape_mrkdwn(s: str) -> str:
    """Escape `&`, `<`, `>` so user text never renders as a mention, link or channel."""
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(s: str, limit: int) -> str:
    """`s` if it fits in `limit` characters, else its start plus "…" (never over `limit`).

    An escaped entity (`&amp;`, `&lt;`, `&gt;`) is never cut in half.
    """
    if limit <= 0:
        return ""
    if len(s) <= limit:
        return s
    if limit == 1:
        return ELLIPSIS
    head = s[: limit - 1]
    partial = _PARTIAL_ENTITY.search(head)
    if partial is not None:
        head = head[: partial.start()]
    return head.rstrip() + ELLIPSIS


def plain(text: str, limit: int = MRKDWN_LIMIT, *, emoji: bool = True) -> dict[str, Any]:
    """A `plain_text` text object, cut to `limit` (Slack refuses an empty one: a space stands in)."""
    return {"type": "plain_text", "text": cut(text, limit) or " ", "emoji": emoji}


def mrkdwn(text: str, limit: int = MRKDWN_LIMIT) -> dict[str, Any]:
    """A `mrkdwn` text object capped at `limit` (3000) characters. Escape user text before."""
    return {"type": "mrkdwn", "text": cut(text, min(limit, MRKDWN_LIMIT)) or " "}


def display_phone(e164: str) -> str:
    """+5511988887777 -> "+55 11 98888-7777", the way people write it (unchanged if unparseable)."""
    try:
        return phonenumbers.format_number(
            phonenumbers.parse(e164, None), phonenumbers.PhoneNumberFormat.INTERNATIONAL
        )
    except phonenumbers.NumberParseException:
        return e164


def single_line(s: str) -> str:
    """Collapse newlines and runs of spaces: for option descriptions and one-line summaries."""
    return " ".join(s.split())


DEFAULT_TIMEZONE = "America/Sao_Paulo"
Display = tuple[str, float] | None  # (currency, rate): prices converted for reading, marked "≈"


def _zone(tz: str | None) -> tzinfo:
    try:
        return ZoneInfo(tz or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def format_time(dt: datetime, lang: str, tz: str | None = DEFAULT_TIMEZONE) -> str:
    """A moment in the team's zone (`tz`): "25/11 14:30" (pt-BR), "Nov 25, 14:30" (en).

    Only the fallback where Slack cannot render a date token; it never says "UTC".
    """
    catalog = Catalog(lang)
    moment = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    moment = moment.astimezone(_zone(tz))
    months = catalog.t("screen.time.months").split(",")
    month_name = months[moment.month - 1].strip() if len(months) == 12 else f"{moment.month:02d}"
    return catalog.t(
        "screen.time.at", day=moment.day, month_name=month_name, hour=moment.hour, minute=moment.minute
    )


def slack_date(dt: datetime, fallback: str) -> str:
    """Slack's date token: each reader sees the moment in their own zone ("Today at 2:40 PM").

    mrkdwn only (plain_text shows it raw); `fallback` is what clients that cannot render it show.
    """
    moment = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    safe = fallback.replace("|", "/").replace(">", "")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{safe}>"


def format_remaining(seconds: int | float, lang: str) -> str:
    """Time left as "2 h 15 min", "45 min", "22 h", or "menos de 1 min" (minutes rounded down)."""
    catalog = Catalog(lang)
    total_minutes = max(0, int(seconds)) // 60
    hours, minutes = divmod(total_minutes, 60)
    if hours and minutes:
        return catalog.t("screen.time.remaining_hm", hours=hours, minutes=minutes)
    if hours:
        return catalog.t("screen.time.remaining_h", hours=hours)
    if minutes:
        return catalog.t("screen.time.remaining_m", minutes=minutes)
    return catalog.t("screen.time.remaining_lt_m")


def _group(whole: str, separator: str) -> str:
    digits = whole.lstrip("-")
    groups: list[str] = []
    while len(digits) > 3:
        groups.insert(0, digits[-3:])
        digits = digits[:-3]
    groups.insert(0, digits)
    return ("-" if whole.startswith("-") else "") + separator.join(groups)


def format_money(price: float, currency: str | None, lang: str, *, total: bool = False) -> str:
    """Money the way the reader's language writes it (Babel's rules for pt-BR and en).

    A per-message rate keeps up to four decimals ("US$ 0,0068"); a `total` has exactly two and
    grouping ("R$ 1.234,50", "US$1,234.50").
    """
    catalog = Catalog(lang)
    code = (currency or "USD").upper()
    if total:
        # Half up, as an invoice rounds (f"{0.125:.2f}" would give 0.12).
        text = str(Decimal(repr(price)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
    else:
        text = f"{price:.4f}".rstrip("0")
        whole, _, decimals = text.partition(".")
        text = f"{whole}.{decimals.ljust(2, '0')}"
    whole, _, decimals = text.partition(".")
    grouped = _group(whole, catalog.t("screen.price.group_separator"))
    amount = grouped + catalog.t("screen.price.decimal_separator") + decimals
    symbol = _CURRENCY_SYMBOLS.get(code)
    if symbol is None:
        return catalog.t("screen.price.with_code", code=code, amount=amount)
    return catalog.t("screen.price.with_symbol", symbol=symbol, amount=amount)


def format_price(price: float, currency: str | None, lang: str) -> str:
    """A per-message price as "US$ 0,0625" (pt-BR) or "US$0.0625" (en)."""
    return format_money(price, currency, lang)


class Safe(str):
    """mrkdwn the app built itself (a date token): `Texts.md` passes it through unescaped."""


class _Blank(dict[str, Any]):
    """Format arguments where a missing one renders empty instead of raising."""

    def __missing__(self, key: str) -> str:
        return ""


class Texts:
    """The catalogue of one language, formatted safely for Block Kit.

    `t` gives plain text (for plain_text objects); `md` gives mrkdwn, escaping every string
    parameter (they may come from users, BSPs or contacts). A missing parameter renders empty
    rather than breaking a whole view.
    """

    def __init__(
        self,
        lang: str,
        tz: str | None = DEFAULT_TIMEZONE,
        display: tuple[str, float] | None = None,
    ) -> None:
        self.lang = lang
        self.tz = tz or DEFAULT_TIMEZONE
        # pricing.display_currency + exchange_rate: prices converted for reading, marked "≈".
        self.display = display
        self.catalog = Catalog(lang)

    def t(self, key: str, **params: Any) -> str:
        """The string for `key` with `params` substituted, as plain text."""
        template = self.catalog.t(key)
        try:
            return template.format_map(_Blank(params))
        except (ValueError, IndexError, AttributeError):
            return template

    def md(self, key: str, **params: Any) -> str:
        """The string for `key` as mrkdwn: string parameters are escaped, except mrkdwn this
        method or `time` already built (`Safe`), so pieces nest without double escaping."""
        escaped = {
            name: escape_mrkdwn(v) if isinstance(v, str) and not isinstance(v, Safe) else v
            for name, v in params.items()
        }
        return Safe(self.t(key, **escaped))

    def time(self, dt: datetime) -> str:
        """A moment as Slack's date token (mrkdwn only), in each reader's own zone."""
        return Safe(slack_date(dt, format_time(dt, self.lang, self.tz)))

    def time_plain(self, dt: datetime) -> str:
        """The same moment as text in the team's zone, for plain_text (hints, errors)."""
        return format_time(dt, self.lang, self.tz)

    def ago(self, dt: datetime, now: datetime) -> str:
        """How long ago a moment was: "há 3 h" / "3 h ago"."""
        return self.t("screen.time.ago", span=self.remaining((now - dt).total_seconds()))

    def remaining(self, seconds: int | float) -> str:
        return format_remaining(seconds, self.lang)

    def price(self, price: float, currency: str | None, *, total: bool = False) -> str:
        """A price in the rate card's currency, or converted ("≈ R$ 0,04") when configured."""
        if self.display is not None and (currency or "USD").upper() != self.display[0].upper():
            target, rate = self.display
            converted = format_money(price * rate, target, self.lang, total=total or price * rate >= 0.01)
            return "≈ " + converted
        return format_money(price, currency, self.lang, total=total)

    @property
    def converting(self) -> bool:
        return self.display is not None


def charge_text(texts: Texts, charge: Charge | None, calling_code: str | None, *, short: bool = False) -> str:
    """What sending costs, as mrkdwn-safe text: "Grátis · janela de atendimento aberta",
    "US$ 0,0625 (preço estimado para +55)", "Indisponível · ...", "Desconhecido · ...".

    `short` is for select option descriptions (75 characters): the price alone when paid.
    """
    if charge is None:
        return texts.t("screen.charge.unknown_plain")
    reason_key = f"screen.charge.reason.{charge.reason}"
    why = texts.t(reason_key) if charge.reason and texts.catalog.has(reason_key) else ""
    code = calling_code or "?"
    if charge.charge == "free":
        return texts.t("screen.charge.free", why=why) if why else texts.t("screen.charge.free_plain")
    if charge.charge == "paid":
        if charge.price is None:
            return (
                texts.t("screen.charge.paid_plain")
                if short
                else texts.t("screen.charge.paid_no_rate", code=code)
            )
        price = texts.price(charge.price, charge.currency)
        if short:
            return price
        if charge.reason == "service_billable":
            return texts.t("screen.charge.paid_service", price=price, code=code)
        return texts.t("screen.charge.paid_estimate", price=price, code=code)
    if charge.charge == "unavailable":
        return (
            texts.t("screen.charge.unavailable", why=why)
            if why
            else texts.t("screen.charge.unavailable_plain")
        )
    if short:
        return texts.t("screen.charge.unknown_plain")
    return texts.t("screen.charge.unknown", why=why) if why else texts.t("screen.charge.unknown_plain")
