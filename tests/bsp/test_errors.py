"""Provider errors as sentences, in both catalogue languages."""

from __future__ import annotations

import pytest
import yaml

from bot.bsp.base import BspError, ProviderError
from bot.bsp.errors import explain
from bot.i18n import _ROOT, Catalog

CODES = [
    "131047",
    "470",
    "132000",
    "132001",
    "132015",
    "132016",
    "131026",
    "131049",
    "131050",
    "131056",
    "130429",
    "invalid_api_key",
    "360dialog_error",
    "timeout",
    "missing_credentials",
    "network",
    "bad_response",
]


def keys(lang: str) -> set[str]:
    data = yaml.safe_load((_ROOT / lang / "bsp_errors.yml").read_text(encoding="utf-8"))
    return set(data["bsp_errors"])


def test_both_languages_have_the_same_keys() -> None:
    assert keys("en") == keys("pt-BR")


@pytest.mark.parametrize("lang", ["en", "pt-BR"])
def test_every_known_code_has_its_own_sentence(lang: str) -> None:
    catalog = Catalog(lang)
    generic = explain(BspError("999999", ""), catalog)
    sentences = {code: explain(BspError(code, "detail here"), catalog) for code in CODES}
    for code, sentence in sentences.items():
        assert not sentence.startswith("bsp_errors."), code
        assert sentence != generic and "{" not in sentence, code
    assert len(set(sentences.values())) == len(CODES) - 1  # 470 and 131047 share a sentence
    assert sentences["470"] == sentences["131047"]


def test_english_sentences_say_what_to_do() -> None:
    en = Catalog("en")
    assert "template" in explain(BspError("131047", "Re-engagement message", http_status=400), en)
    assert "before sending again" in explain(BspError("timeout", "x", outcome_unknown=True), en)
    # Any send of unknown outcome gets the check-first sentence, whatever its code.
    assert "before sending again" in explain(BspError("bad_response", "x", outcome_unknown=True), en)
    assert "WA_TOKEN" in explain(
        BspError("missing_credentials", "the environment variable WA_TOKEN is not set"), en
    )
    assert "Template not found" in explain(BspError("360dialog_error", "Template not found (HTTP 404)"), en)


def test_invalid_key_spellings() -> None:
    en = Catalog("en")
    sentence = explain(BspError("invalid_api_key"), en)
    assert explain(BspError("190", "Invalid OAuth access token"), en) == sentence
    assert explain(BspError("http_401", ""), en) == sentence
    assert explain(BspError("20003", "Authenticate", http_status=401), en) == sentence


def test_generic_fallback_names_the_code() -> None:
    en = Catalog("en")
    assert explain(BspError("131000", "Something went wrong."), en) == (
        "The provider refused the message (code 131000): Something went wrong"
    )
    assert "131000" in explain(BspError("131000"), en)
    assert "código 131000" in explain(BspError("131000", "x"), Catalog("pt-BR"))


def test_webhook_errors_too() -> None:
    pt = Catalog("pt-BR")
    assert explain(ProviderError("131049", "not delivered"), pt) == explain(BspError("131049"), pt)
    assert "63016" not in explain(ProviderError("63016", "outside window"), pt)  # Twilio's 24 h error
