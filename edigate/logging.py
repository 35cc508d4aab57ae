"""Structured JSON logging with personal data redaction.

Every log line edigate writes - its own structlog events and stdlib records such as aiohttp's access log -
passes through :func:`redact_processor` last before rendering. The processor removes what must never leave
the core (DESIGN "No personal data leaves the core"):

* CPR numbers: standalone ``DDMMYYSSSS`` or ``DDMMYY-SSSS`` with a plausible day and month. 13-digit EAN/GLN
  numbers and longer digit runs are left alone (the 10 digits must not touch another letter or digit).
* fields whose *key* names personal data (``cpr``, ``patient``, ``body``, ``xml`` …, see
  :data:`PERSONAL_KEYS`) are replaced by ``[redacted]`` whatever they hold;
* values registered with :func:`redact_values` for the current context (the ingest path registers the
  current message's patient names and CPR), wherever they appear, case-insensitively.

Strings nested in dicts, lists and tuples are scrubbed, as are rendered tracebacks (``exception``) and the
text of objects logged as values (exceptions, paths …).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TextIO

import structlog

__all__ = [
    "CPR_MARK",
    "PERSONAL_KEYS",
    "REDACTED",
    "RedactionScope",
    "bind_message",
    "configure_logging",
    "get_logger",
    "redact_processor",
    "redact_values",
    "scrub_text",
    "unbind_message",
]

REDACTED = "[redacted]"
CPR_MARK = "[cpr]"

# Keys are compared lower-case with "_" and "-" removed, so "patient_name", "PatientName" and
# "patient-name" are one key.
PERSONAL_KEYS: frozenset[str] = frozenset(
    {
        "cpr",
        "cprnumber",
        "cprnr",
        "civilregistrationnumber",
        "alternativeidentifier",
        "patient",
        "patients",
        "patientname",
        "patientnames",
        "nameofpatient",
        "patientid",
        "personname",
        "persongivenname",
        "personsurnamename",
        "givenname",
        "surname",
        "firstname",
        "lastname",
        "relative",
        "relatives",
        "body",
        "rawbody",
        "xml",
        "rawxml",
        "payload",
        "document",
    }
)

# DD 01-31, MM 01-12, YY, then 4 digits, in every way people write it: "DDMMYYSSSS", "DDMMYY-SSSS",
# "DDMMYY SSSS", "DD.MM.YY-SSSS", "DD.MM.YY SSSS" (the same forms notify.cpr finds in form fields). Not glued
# to other word characters, so the 13-digit EAN 5790000123456 and a 14-character envelope id never match.
# The pattern starts with a plain digit class so the regex engine skips non-digits at C speed; the boundary
# ("not glued to a word character", where a JSON "\n" escape counts as a gap) and the day 01-31 are checked
# by lookbehinds once two digits are in hand.
_CPR_RE = re.compile(
    r"[0-3](?:(?<!\w\d)|(?<=\\[nrt]\d))\d(?<=0[1-9]|[12]\d|3[01])(\.?)(?:0[1-9]|1[0-2])\1\d\d[- .]?\d{4}(?!\w)"
)
_START = r"(?:(?<!\w)|(?<=\\[nrt]))"
_MIN_VALUE_LEN = 3


@dataclass(frozen=True)
class _Registered:
    values: frozenset[str]
    lowered: tuple[str, ...]  # for a cheap substring pre-check before the regex
    pattern: re.Pattern[str] | None


_registered: contextvars.ContextVar[_Registered | None] = contextvars.ContextVar("edigate_redact_values", default=None)


def _compile(values: frozenset[str]) -> re.Pattern[str] | None:
    if not values:
        return None
    # Longest first so "Nancy Ann Berggren" wins over its part "Nancy".
    alternatives = "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True))
    return re.compile(rf"{_START}(?:{alternatives})(?!\w)", re.IGNORECASE)


class RedactionScope:
    """Values registered for the current context; ``with`` (or :meth:`reset`) ends the registration.

    aiohttp runs each request in its own task with its own copy of the context, so a registration made in
    a request handler ends with the request even without ``with``.
    """

    def __init__(self, token: contextvars.Token[_Registered | None]) -> None:
        self._token: contextvars.Token[_Registered | None] | None = token

    def reset(self) -> None:
        if self._token is not None:
            # a token from another context raises ValueError; that context ends on its own
            with contextlib.suppress(ValueError):
                _registered.reset(self._token)
            self._token = None

    def __enter__(self) -> RedactionScope:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.reset()


def redact_values(*values: str | None) -> RedactionScope:
    """Scrub these exact values (patient names, CPR …) from every log event in the current context.

    Multi-word names are registered whole and word by word (words shorter than 3 characters are skipped,
    so an initial does not blank every "A" in the log).
    """
    current = _registered.get()
    new: set[str] = set(current.values) if current else set()
    for value in values:
        if not value:
            continue
        text = " ".join(str(value).split())
        if len(text) >= _MIN_VALUE_LEN:
            new.add(text)
        for word in text.split(" "):
            if len(word) >= _MIN_VALUE_LEN:
                new.add(word)
    frozen = frozenset(new)
    lowered = tuple(sorted({v.lower() for v in frozen}))
    return RedactionScope(_registered.set(_Registered(frozen, lowered, _compile(frozen))))


def scrub_text(text: str) -> str:
    """The text with CPR numbers and the context's registered values removed."""
    text = _CPR_RE.sub(CPR_MARK, text)
    registered = _registered.get()
    if registered is not None and registered.pattern is not None:
        lower = text.lower()
        if any(v in lower for v in registered.lowered):
            text = registered.pattern.sub(REDACTED, text)
    return text


@functools.lru_cache(maxsize=4096)
def _personal_key(key: str) -> bool:
    return key.lower().replace("_", "").replace("-", "") in PERSONAL_KEYS


def _is_personal_key(key: object) -> bool:
    return isinstance(key, str) and _personal_key(key)


def _scrub(value: Any, strings: bool, depth: int = 0) -> Any:
    """Redact personal keys at any depth; with ``strings`` also scrub the text of every leaf."""
    if isinstance(value, str):
        return scrub_text(value) if strings else value
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        # A CPR stored as a number (leading zero lost) is still a CPR.
        if 10**8 <= value < 10**10 and _CPR_RE.fullmatch(str(value).zfill(10)):
            return CPR_MARK
        return value
    if depth > 20:
        return REDACTED
    if isinstance(value, Mapping):
        return {k: (REDACTED if _is_personal_key(k) else _scrub(v, strings, depth + 1)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(v, strings, depth + 1) for v in value]
    if not strings:
        return value  # rendered to text later, and that text is scrubbed (_ScrubRendered)
    if isinstance(value, bytes | bytearray):
        return scrub_text(bytes(value).decode("utf-8", "replace"))
    # Exceptions, paths, datetimes …: the renderer would print their text; scrub that text now.
    return scrub_text(str(value))


def _redact(event_dict: MutableMapping[str, Any], strings: bool) -> MutableMapping[str, Any]:
    for key, value in event_dict.items():
        if _personal_key(key):
            event_dict[key] = REDACTED
        elif strings or value.__class__ is not str:
            event_dict[key] = _scrub(value, strings)
    return event_dict


def redact_processor(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: remove CPR numbers, registered values and personal fields from every field.

    Standalone form (e.g. with ``structlog.testing.capture_logs``). :func:`configure_logging` uses the
    cheaper equivalent: personal keys per field, then one scrub of the rendered line.
    """
    return _redact(event_dict, strings=True)


def _redact_keys(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    return _redact(event_dict, strings=False)


class _ScrubRendered:
    """Wraps the final renderer: scrubs the rendered line, so every field, nested value, object text and
    traceback is covered by one regex pass instead of one per field."""

    def __init__(self, renderer: Any) -> None:
        self._renderer = renderer

    def __call__(self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
        out = self._renderer(logger, method_name, event_dict)
        return scrub_text(out) if isinstance(out, str) else out


def bind_message(
    message_id: str | None = None, envelope_id: str | None = None, route: str | None = None
) -> Mapping[str, contextvars.Token[Any]]:
    """Bind the message being handled to every event logged in this context.

    ``route`` is "sender EAN->receiver EAN" (or organisation names). Returns the tokens for
    ``structlog.contextvars.reset_contextvars(**tokens)``; :func:`unbind_message` clears the keys.
    """
    fields = {
        k: v for k, v in (("message_id", message_id), ("envelope_id", envelope_id), ("route", route)) if v is not None
    }
    return structlog.contextvars.bind_contextvars(**fields)


def unbind_message() -> None:
    structlog.contextvars.unbind_contextvars("message_id", "envelope_id", "route")


def get_logger(name: str | None = None, **initial: Any) -> Any:
    """A lazy structlog logger (safe at module level, before :func:`configure_logging`); ``name`` is shown
    as ``logger``, like the stdlib loggers' names."""
    if name is not None:
        initial["logger_name"] = name
    return structlog.get_logger(**initial)


def _logger_key(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    # structlog.get_logger() reserves the keyword "logger", so get_logger(name) binds "logger_name".
    name = event_dict.pop("logger_name", None)
    if name is not None:
        event_dict["logger"] = name
    return event_dict


class _CurrentStdout:
    """File-like that writes to whatever ``sys.stdout`` is at write time (pytest's capsys swaps it)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg,unused-ignore]
    """Writes to whatever ``sys.stdout`` is at the time (pytest's capsys swaps it)."""

    _edigate = True

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def _drop_formatter_leftovers(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Another handler's formatter may have left ``record.message`` (a copy of the event) behind."""
    if event_dict.get("message") == event_dict.get("event"):
        event_dict.pop("message", None)
    event_dict.pop("color_message", None)
    return event_dict


LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


def configure_logging(level: str = "info", json: bool = True) -> None:
    """structlog JSON to stdout, one event per line, ISO 8601 UTC timestamps, redaction on every event.

    stdlib loggers (aiohttp.access, aiohttp.server, asyncio …) are routed through the same chain, so
    their lines are JSON and redacted too. Safe to call again (tests reconfigure).
    """
    try:
        numeric = LOG_LEVELS[level.lower()]
    except KeyError:
        raise ValueError(f"logging.level: unknown level {level!r}; use one of {sorted(LOG_LEVELS)}") from None

    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False, default=str)
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        _logger_key,
        structlog.processors.add_log_level,
        timestamper,
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    renderer = _ScrubRendered(renderer)
    structlog.configure(
        processors=[*shared, _redact_keys, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.WriteLoggerFactory(file=_CurrentStdout()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ExtraAdder(),
            _drop_formatter_leftovers,
            *shared,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _redact_keys,
            renderer,
        ],
    )
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_edigate", False):
            root.removeHandler(handler)
    handler = _StdoutHandler()
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(numeric)
    logging.captureWarnings(True)
