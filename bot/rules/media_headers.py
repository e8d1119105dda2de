"""A template's media header (IMAGE, VIDEO, DOCUMENT) or LOCATION header: what the agent gives
for it, how it is checked, and the header parameter Meta's send body carries (pure).

Meta refuses a template whose media header is sent without its parameter, so these inputs are
required like variables. Keys live beside the variables' in the screen's values:
"header.media" (an https link, or the id of media uploaded to the BSP) and
"header.location.latitude" / "longitude" / "name" / "address".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlparse

from bot.rules.templates import Template

MEDIA_KEY = "header.media"
LOCATION_FIELDS = ("latitude", "longitude", "name", "address")
MEDIA_KINDS = ("IMAGE", "VIDEO", "DOCUMENT")
# What WhatsApp accepts for each (Meta's supported media types).
EXTENSIONS = {
    "IMAGE": (".jpg", ".jpeg", ".png"),
    "VIDEO": (".mp4", ".3gp"),
    "DOCUMENT": (".pdf", ".doc", ".docx", ".xls", ".xlsx", ".ppt", ".pptx", ".txt"),
}


@dataclass(frozen=True)
class MediaProblem:
    key: str  # the input ("header.media", "header.location.latitude")
    problem: str  # catalogue key suffix under screen.errors
    params: tuple[tuple[str, str], ...] = ()


def header_kind(template: Template) -> str:
    return (template.header_format or "").upper()


def media_keys(template: Template) -> list[str]:
    """The header inputs a template needs besides its variables."""
    kind = header_kind(template)
    if kind in MEDIA_KINDS:
        return [MEDIA_KEY]
    if kind == "LOCATION":
        return [f"header.location.{name}" for name in LOCATION_FIELDS]
    return []


def _is_media_id(value: str) -> bool:
    # Ids of media uploaded to the BSP are digits (Cloud API) or opaque tokens without "/" or ":".
    return bool(value) and "/" not in value and ":" not in value and " " not in value


def media_problems(template: Template, values: dict[str, str]) -> list[MediaProblem]:
    """What is missing or wrong in the header inputs (empty when the template has none)."""
    kind = header_kind(template)
    problems: list[MediaProblem] = []
    if kind in MEDIA_KINDS:
        value = (values.get(MEDIA_KEY) or "").strip()
        if not value:
            return [MediaProblem(MEDIA_KEY, "media_missing")]
        if _is_media_id(value):
            return []
        url = urlparse(value)
        if url.scheme != "https" or not url.netloc:
            return [MediaProblem(MEDIA_KEY, "media_not_https")]
        suffix = PurePosixPath(url.path).suffix.lower()
        if suffix and suffix not in EXTENSIONS[kind]:
            extensions = ", ".join(e.lstrip(".") for e in EXTENSIONS[kind])
            problems.append(
                MediaProblem(
                    MEDIA_KEY, "media_wrong_type", (("kind", kind.lower()), ("extensions", extensions))
                )
            )
    elif kind == "LOCATION":
        for name, low, high in (("latitude", -90.0, 90.0), ("longitude", -180.0, 180.0)):
            key = f"header.location.{name}"
            try:
                number = float((values.get(key) or "").replace(",", "."))
            except ValueError:
                number = float("nan")
            if not low <= number <= high:
                problems.append(MediaProblem(key, "location_invalid"))
    return problems


def header_parameter(template: Template, values: dict[str, str]) -> dict[str, Any] | None:
    """Meta's header parameter for the media or location header, or None (no such header, or
    nothing given for it: validation, not the body builder, asks for it)."""
    kind = header_kind(template)
    if kind in MEDIA_KINDS:
        value = (values.get(MEDIA_KEY) or "").strip()
        if not value:
            return None
        media: dict[str, Any] = {"id": value} if _is_media_id(value) else {"link": value}
        if kind == "DOCUMENT" and "link" in media:
            name = PurePosixPath(urlparse(value).path).name
            if name:
                media["filename"] = name
        return {"type": kind.lower(), kind.lower(): media}
    if kind == "LOCATION":
        if not any((values.get(f"header.location.{name}") or "").strip() for name in LOCATION_FIELDS):
            return None
        location: dict[str, Any] = {}
        for name in LOCATION_FIELDS:
            raw = (values.get(f"header.location.{name}") or "").strip()
            if name in ("latitude", "longitude"):
                location[name] = raw.replace(",", ".")
            elif raw:
                location[name] = raw
        return {"type": "location", "location": location}
    return None
