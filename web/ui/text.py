"""Stored text as the UI can send it: lone surrogates (which UTF-8 cannot encode, and
JSON escapes such as ``\\ud800`` bring back) become U+FFFD; control characters are shown
as visible symbols on pages."""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup

_SURROGATE = re.compile(r"[\ud800-\udfff]")
# C0 controls but tab, LF and CR; DEL; C1 controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def clean_text(value: str) -> str:
    """``value`` with lone surrogates replaced by U+FFFD (the rest kept as it is)."""
    return _SURROGATE.sub("\ufffd", value) if _SURROGATE.search(value) else value


def clean(value: Any) -> Any:
    """``value`` (rows, JSON documents) with :func:`clean_text` applied to every string,
    dictionary keys included."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # U+2400 SYMBOL FOR NULL ...
    return "\u2421" if code == 0x7F else "\ufffd"


def visible(value: Any) -> Any:
    """What a template prints: text with control characters as visible symbols (Jinja's
    ``finalize``; markup the code built is left alone)."""
    if isinstance(value, str) and not isinstance(value, Markup):
        value = clean_text(value)
        return _CONTROL.sub(_picture, value) if _CONTROL.search(value) else value
    return value
