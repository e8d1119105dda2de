"""Escaping, cutting, and times/prices in each language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from bot.blocks.text import (
    Texts,
    charge_text,
    cut,
    escape_mrkdwn,
    format_money,
    format_price,
    format_remaining,
    format_time,
    mrkdwn,
    plain,
)
from bot.rules.pricing import Charge


def test_escape_mrkdwn() -> None:
    assert escape_mrkdwn("<@U1> & <!here> > x") == "&lt;@U1&gt; &amp; &lt;!here&gt; &gt; x"
    assert escape_mrkdwn("*negrito* _itálico_") == "*negrito* _itálico_"


def test_cut() -> None:
    assert cut("curto", 10) == "curto"
    assert cut("exatamente", 10) == "exatamente"
    assert cut("um texto longo demais", 10) == "um texto…"
    assert cut("abc", 0) == ""
    assert cut("abc", 1) == "…"
    # an escaped entity is never cut in half
    assert cut("ab &amp; cd", 6) == "ab…"


@given(st.text(), st.integers(min_value=0, max_value=400))
def test_cut_never_exceeds_the_limit(text: str, limit: int) -> None:
    result = cut(text, limit)
    assert len(result) <= limit
    assert result == text or result.endswith("…") or limit == 0


@given(st.text(alphabet="a&<> ", max_size=300), st.integers(min_value=2, max_value=200))
def test_cut_escaped_text_leaves_no_broken_entity(text: str, limit: int) -> None:
    result = cut(escape_mrkdwn(text), limit).removesuffix("…")
    unescaped = result.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "")
    assert "&" not in unescaped


def test_text_objects_are_capped_and_never_empty() -> None:
    assert plain("x" * 100, 24)["text"] == "x" * 23 + "…"
    assert plain("", 24)["text"] == " "
    assert len(mrkdwn("y" * 5000)["text"]) == 3000
    assert mrkdwn("a")["type"] == "mrkdwn"


def test_format_time_in_both_languages() -> None:
    # The fallback text is in the team's zone (default America/Sao_Paulo), never "UTC" (issue 10).
    at = datetime(2026, 11, 25, 17, 40, tzinfo=UTC)
    assert format_time(at, "pt-BR") == "25/11 14:40"
    assert format_time(at, "en") == "Nov 25, 14:40"
    assert format_time(at, "pt-BR", "UTC") == "25/11 17:40"
    # Whatever zone the datetime carries, the same moment reads the same.
    elsewhere = at.astimezone(timezone(timedelta(hours=5)))
    assert format_time(elsewhere, "pt-BR") == "25/11 14:40"
    assert format_time(datetime(2026, 1, 5, 7, 5, tzinfo=UTC), "pt-BR") == "05/01 04:05"


def test_times_are_slack_date_tokens_with_a_local_fallback() -> None:
    at = datetime(2026, 11, 25, 17, 40, tzinfo=UTC)
    token = Texts("pt-BR").time(at)
    assert token == f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|25/11 14:40>"
    # md() does not escape the app's own token, but does escape user text beside it.
    assert Texts("pt-BR").md("screen.time.closes", left="<x>", at=token).endswith(f"({token})")
    assert "&lt;x&gt;" in Texts("pt-BR").md("screen.time.closes", left="<x>", at=token)
    assert Texts("en").ago(at - timedelta(hours=3), at) == "3 h ago"


def test_money_totals_have_two_decimals_and_grouping() -> None:
    assert format_money(1234.5, "BRL", "pt-BR", total=True) == "R$ 1.234,50"
    assert format_money(1.875, "USD", "pt-BR", total=True) == "US$ 1,88"
    assert format_money(1234567.891, "USD", "en", total=True) == "US$1,234,567.89"
    assert format_money(0.0068, "USD", "pt-BR") == "US$ 0,0068"
    # A display conversion is always marked as an estimate.
    assert Texts("pt-BR", display=("BRL", 5.4)).price(0.0068, "USD") == "≈ R$ 0,04"
    assert Texts("pt-BR", display=("BRL", 5.4)).price(0.5, "BRL") == "R$ 0,50"


def test_format_remaining() -> None:
    assert format_remaining(2 * 3600 + 15 * 60 + 59, "pt-BR") == "2 h 15 min"
    assert format_remaining(22 * 3600, "pt-BR") == "22 h"
    assert format_remaining(45 * 60, "en") == "45 min"
    assert format_remaining(30, "pt-BR") == "menos de 1 min"
    assert format_remaining(-5, "en") == "less than 1 min"
    assert format_remaining(71 * 3600 + 60, "en") == "71 h 1 min"


def test_format_price() -> None:
    assert format_price(0.0625, "USD", "pt-BR") == "US$ 0,0625"
    assert format_price(0.0625, "USD", "en") == "US$0.0625"
    assert format_price(0.0068, "USD", "pt-BR") == "US$ 0,0068"
    assert format_price(0.1, "BRL", "pt-BR") == "R$ 0,10"
    assert format_price(1.5, "EUR", "en") == "€1.50"
    assert format_price(0.02, "INR", "en") == "INR 0.02"


def test_charge_text() -> None:
    tx = Texts("pt-BR")
    assert charge_text(tx, Charge("free", "csw_open"), "55") == "Grátis · janela de atendimento aberta"
    # Where the price comes from is said once, in the screen's context line (issue 10).
    assert charge_text(tx, Charge("paid", "outside_windows", 0.0625, "USD"), "55") == "US$ 0,0625"
    assert charge_text(tx, Charge("paid", "outside_windows", 0.0625, "USD"), "55", short=True) == "US$ 0,0625"
    assert (
        charge_text(tx, Charge("paid", "no_rate"), "999")
        == "Pago · a tabela de preços não tem valor para +999"
    )
    assert (
        charge_text(tx, Charge("unavailable", "csw_closed"), "55")
        == "Indisponível · janela de atendimento fechada"
    )
    assert charge_text(tx, Charge("unknown", "no_session_data"), None) == (
        "Custo desconhecido · o provedor não informa sessões"
    )
    assert charge_text(tx, Charge("free", ""), "55") == "Grátis"  # a stored charge has no reason
    assert charge_text(Texts("en"), Charge("paid", "service_billable", 0.0068, "USD"), "55") == (
        "US$0.0068 (utility rate)"  # short enough for a card; the source is said once (issue 10)
    )


def test_texts_never_break_on_missing_parameters() -> None:
    tx = Texts("pt-BR")
    assert tx.t("screen.errors.send_failed") == "A mensagem não foi enviada: "
    assert (
        tx.md("screen.errors.send_failed", reason="<b> & c")
        == "A mensagem não foi enviada: &lt;b&gt; &amp; c"
    )
    assert tx.t("no.such.key") == "no.such.key"
