"""Provider errors as sentences for the agent: what happened and what to do, in the catalogue's
language (keys under `bsp_errors.` in bot/i18n/<lang>/bsp_errors.yml)."""

from __future__ import annotations

from typing import Protocol

from bot.bsp.base import BspError, ProviderError


class _Catalog(Protocol):
    def t(self, key: str, **kwargs: object) -> str: ...


# Provider codes -> catalogue key. Meta's codes first, then their legacy/BSP equivalents.
_KEYS: dict[str, str] = {
    "131047": "window_closed",
    "470": "window_closed",  # On-Prem / Gupshup ancestor of 131047
    "63016": "window_closed",  # Twilio: outside the 24 h window
    "132000": "param_mismatch",
    "132001": "template_missing",
    "132015": "template_paused",
    "132016": "template_disabled",
    "131026": "undeliverable",
    "131049": "marketing_cap",
    "131050": "opted_out",
    "131056": "pair_rate",
    "130429": "throughput",
    "invalid_api_key": "invalid_key",
    "190": "invalid_key",  # Graph: access token invalid or expired
    "401": "invalid_key",
    "http_401": "invalid_key",
    "360dialog_error": "dialog360",
    "timeout": "timeout",
    "network": "network",
    "missing_credentials": "missing_credentials",
    "bad_response": "bad_response",
}


def explain(error: BspError | ProviderError, catalog: _Catalog) -> str:
    """A sentence for `error` (a sync BspError or an error from a webhook), in `catalog`'s language."""
    if isinstance(error, BspError):
        code, detail = error.code, error.message
        if error.outcome_unknown:
            return catalog.t("bsp_errors.timeout")
        if error.http_status == 401 and code not in _KEYS:
            code = "invalid_api_key"
    else:
        code, detail = error.code, error.detail or error.title
    key = _KEYS.get(code)
    detail = detail.strip().rstrip(".")
    if key is None:
        key = "generic" if detail else "generic_no_detail"
    return catalog.t(f"bsp_errors.{key}", code=code, detail=detail or code)
