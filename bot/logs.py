"""The one logging set-up: every `contato-bot` command calls `setup_logging` and `serve` hands
uvicorn no configuration of its own, so uvicorn's lines and the app's share one format.

    LOG_LEVEL   debug | info (default) | warning | error | critical, any case
    LOG_FORMAT  text (default) | json: one object a line with time (ISO 8601, UTC), level,
                logger, message, the context fields present (channel, provider, slack_user,
                request_id) and `exc` (the traceback) for an exception

Whatever the format, every record goes through `RedactFilter` before it is written: phone numbers
(E.164-looking digit runs, or `+` numbers written with spaces and dashes) are masked with
`rules.phones.mask_phone`, and known secret values (the Slack tokens and signing secret, the
variables the config names in `*_env` keys, values of variables named like a secret) become `***`.

Context fields come from `log_context(...)` (a contextvar, so a request's fields follow its
coroutines) or from `extra={...}` on one call.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TextIO
from urllib.parse import urlsplit

from bot.rules.phones import mask_phone

LEVELS: tuple[str, ...] = ("debug", "info", "warning", "error", "critical")
FORMATS: tuple[str, ...] = ("text", "json")
CONTEXT_FIELDS: tuple[str, ...] = ("channel", "provider", "slack_user", "request_id")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Libraries whose INFO lines are routine narration: APScheduler says "Running job" and "executed
# successfully" at every scan (two lines every 30 s), Alembic narrates every start. Their warnings
# and errors still come through.
QUIET_LOGGERS: tuple[str, ...] = (
    "apscheduler",
    "alembic",
    # These print request and response bodies (Slack payloads, blocks with customers' phones, a
    # refused request's whole body at INFO) or SQL parameters: never below WARNING, whatever
    # LOG_LEVEL says.
    "slack_bolt",
    "slack_sdk",
    "sqlalchemy.engine",
    "httpcore",
)
# uvicorn's loggers: `serve` leaves them unconfigured (log_config=None) so they reach our handler;
# set-up undoes a configuration an earlier uvicorn in the same process left on them.
UVICORN_LOGGERS: tuple[str, ...] = ("uvicorn", "uvicorn.error", "uvicorn.access")

# Environment variables always treated as secrets, and the name fragments that make any other
# variable one (BSP keys are named freely in the config, e.g. D360_API_KEY, FORTICS_PASSWORD).
SECRET_VARIABLES: tuple[str, ...] = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN")
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|_KEY$", re.IGNORECASE)
# Shorter values are too likely to be ordinary words ("secret" in a test environment).
MIN_SECRET_LENGTH = 8

# A bare E.164 number or WhatsApp id (10-15 digits, not part of a longer number or a Slack
# timestamp like 1732540000.123456), or a `+` number written with spaces, dots, dashes, brackets.
_BARE_PHONE = re.compile(r"(?<![\d.])\+?\d{10,15}(?!\d|\.\d)")
_WRITTEN_PHONE = re.compile(r"(?<![\w+])\+\d[\d ().-]{8,22}\d(?!\d)")

_context: ContextVar[Mapping[str, str]] = ContextVar("contato_log_context", default=MappingProxyType({}))


class LogSettingsError(ValueError):
    """LOG_LEVEL or LOG_FORMAT holds something else; the message is one sentence."""


def parse_level(value: str | None) -> int:
    """LOG_LEVEL in any case (unset or empty: INFO) as a logging level number."""
    name = (value or "info").strip().lower()
    if name not in LEVELS:
        raise LogSettingsError(
            f"LOG_LEVEL={value!r} is not a log level; use one of {', '.join(LEVELS)} (any case)."
        )
    return logging.getLevelNamesMapping()[name.upper()]


def parse_format(value: str | None) -> str:
    """LOG_FORMAT in any case (unset or empty: text)."""
    name = (value or "text").strip().lower()
    if name not in FORMATS:
        raise LogSettingsError(f"LOG_FORMAT={value!r} is not a log format; use text or json.")
    return name


@contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Add context fields (channel, provider, slack_user, request_id) to every record logged
    inside the block, including from the coroutines and tasks it starts."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v}})
    try:
        yield
    finally:
        _context.reset(token)


def stamp_context(record: logging.LogRecord) -> None:
    """Copy the `log_context` fields onto the record (where `extra=` did not set them), so they
    travel with it whenever and wherever it is formatted."""
    for name, value in _context.get().items():
        if not getattr(record, name, None):
            setattr(record, name, value)


def context_fields(record: logging.LogRecord) -> dict[str, str]:
    """The context fields of a record, in CONTEXT_FIELDS order."""
    stamp_context(record)
    return {name: str(value) for name in CONTEXT_FIELDS if (value := getattr(record, name, None))}


def mask_phones(text: str) -> str:
    """Every phone-looking number in `text` masked the way `mask_phone` does."""

    def written(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        return mask_phone(digits) if 10 <= len(digits) <= 15 else match.group(0)

    text = _WRITTEN_PHONE.sub(written, text)
    return _BARE_PHONE.sub(lambda match: mask_phone(match.group(0)), text)


class RedactFilter(logging.Filter):
    """Masks phone numbers and replaces secret values in the final message and the traceback.
    Attached to the handler, so it sees every record, from any logger, once formatted."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: set[str] = set()
        self.add_secrets(secrets)

    def add_secrets(self, values: Iterable[str | None]) -> None:
        self.secrets.update(v for v in values if v and len(v) >= MIN_SECRET_LENGTH)

    def redact(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):  # a longer secret may hold a shorter
            if secret in text:
                text = text.replace(secret, "***")
        return mask_phones(text)

    def filter(self, record: logging.LogRecord) -> bool:
        stamp_context(record)
        try:
            message = record.getMessage()
        except Exception:  # a bad %-format: keep what there is rather than lose the record
            message = f"{record.msg} {record.args}"
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message [channel=… provider=…]`."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        line = super().formatMessage(record)
        fields = context_fields(record)
        if fields:
            line += " [" + " ".join(f"{k}={v}" for k, v in fields.items()) + "]"
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the context fields present, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(context_fields(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time (a test's capture, a redirected stream)."""

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stderr

    @stream.setter
    def stream(self, value: TextIO | None) -> None:
        self._stream = None if value is sys.stderr else value


def environment_secrets(environ: Mapping[str, str]) -> list[str]:
    """Secret values the environment holds: the Slack ones, any variable named like a secret,
    and the password in DATABASE_URL."""
    values = [environ.get(name, "") for name in SECRET_VARIABLES]
    values += [value for name, value in environ.items() if _SECRET_NAME.search(name)]
    try:
        password = urlsplit(environ.get("DATABASE_URL", "")).password
    except ValueError:
        password = None
    if password:
        values.append(password)
    return values


def config_secrets(config: Any, environ: Mapping[str, str]) -> list[str]:
    """The values of the variables a loaded config names in its `*_env` keys."""
    values = []
    for channel in getattr(config, "channels", ()):
        fields = channel.model_dump() if hasattr(channel, "model_dump") else vars(channel)
        for key, name in fields.items():
            if key.endswith("_env") and isinstance(name, str) and environ.get(name):
                values.append(environ[name])
                if "," in environ[name]:  # two secrets while a key is rotated: each one alone too
                    values.extend(part.strip() for part in environ[name].split(",") if part.strip())
    return values


_redact = RedactFilter()


def add_secrets(values: Iterable[str | None]) -> None:
    """More values never to log (e.g. once the config says which variables hold BSP keys)."""
    _redact.add_secrets(values)


def setup_logging(
    level: str | None = None,
    fmt: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    stream: TextIO | None = None,
    force: bool = False,
) -> None:
    """Configure the root logger from LOG_LEVEL / LOG_FORMAT (or the arguments). Raises
    LogSettingsError with one sentence for a bad value.

    Like `logging.basicConfig`, it leaves a root logger that already has someone else's handlers
    alone (pytest's, an embedding program's) unless `force`; its own handler is replaced on every
    call, so calling it twice never doubles the lines."""
    environ = os.environ if environ is None else environ
    level_no = parse_level(environ.get("LOG_LEVEL") if level is None else level)
    format_name = parse_format(environ.get("LOG_FORMAT") if fmt is None else fmt)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    _redact.add_secrets(environment_secrets(environ))

    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "contato", False)]
    if len(ours) < len(root.handlers) and not force:
        return
    for old in root.handlers[:]:
        root.removeHandler(old)
        if old in ours:
            old.close()
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
    handler = _StderrHandler(stream)
    handler.contato = True  # type: ignore[attr-defined]
    handler.addFilter(_redact)
    handler.setFormatter(JsonFormatter() if format_name == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level_no)
