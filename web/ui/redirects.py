"""Where a redirect after signing in (or switching language) may go: a path on this site.

Anything else — another host in any spelling (``//host``, ``/\\host``, ``https://host``,
percent-encoded slashes), a scheme (``javascript:``), control characters (a browser drops
tab, CR and LF, so ``/<TAB>/host`` becomes ``//host``; CR/LF would split the header) —
is refused, and the caller falls back to a page of its own.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit

# RFC 3986 path and query characters, plus "%" for escapes already in the text.
_ALLOWED = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/%?]*")
_CONTROL = re.compile(r"[\x00-\x20\x7f-\x9f]")
_MAX = 2048


def local_path(target: str | None) -> str | None:
    """``target`` if it is a path on this site (with its query), else None."""
    if not target or len(target) > _MAX or _CONTROL.search(target) or "\\" in target:
        return None
    # Characters outside ASCII are sent escaped; what remains must be path and query only.
    target = quote(target, safe="/?&=%:@!$'()*+,;~-._")
    if not _ALLOWED.fullmatch(target):
        return None
    # What a lenient proxy or browser could make of it after decoding, more than once.
    decoded = target
    for _ in range(3):
        decoded = unquote(decoded, errors="replace")
    path = decoded.split("?", 1)[0]
    if (
        _CONTROL.search(decoded)
        or "\\" in decoded
        or "//" in path
        or any(segment in (".", "..") for segment in path.split("/"))
    ):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return None
    return target
