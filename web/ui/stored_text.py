"""Text the engine stores in English, shown in the viewer's language: audit reasons, timer
results, delivery errors, and the single words of sources, timer kinds and states.

Each known form is a pattern whose English template is the key of its Turkish
(web/ui/i18n.py); the parts it captures (a user name, a status, an error from the
network) are kept, themselves translated when they are a known phrase, and decimal
numbers take the viewer's decimal mark. Text of an unknown form is shown as stored.
"""

from __future__ import annotations

import re

from web.ui.i18n import N_, current_lang, translate

# (stored form, English template); the templates are the keys of the Turkish.
_FORMS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^(\w+) not allowed in (\w+)$"), N_("{0} not allowed in {1}")),
    (re.compile(r"^unknown event (.+)$"), N_("unknown event {0}")),
    (
        re.compile(r"^event of attempt (\d+), call is on attempt (\d+)$"),
        N_("event of attempt {0}, call is on attempt {1}"),
    ),
    (re.compile(r"^hung up by operator (.+)$"), N_("hung up by operator {0}")),
    (re.compile(r"^hung up by api (.+)$"), N_("hung up by the customer {0} (API)")),
    (
        re.compile(r"^notification #(\d+) \(code (\d+)\) sent by operator (.+?): (.+), delivered$"),
        N_("notification #{0} (code {1}) sent by operator {2}: {3}, delivered"),
    ),
    (
        re.compile(r"^notification #(\d+) \(code (\d+)\) sent by operator (.+?): (.+), failed$"),
        N_("notification #{0} (code {1}) sent by operator {2}: {3}, failed"),
    ),
    (re.compile(r"^duration (\d+) s$"), N_("most talk time {0} s")),
    (
        re.compile(r"^extended to (\d+) s, at or below the ([\d.]+) s talked$"),
        N_("extended to {0} s, at or below the {1} s talked"),
    ),
    (re.compile(r"^dial failed: (.+)$"), N_("dial failed: {0}")),
    (
        re.compile(r"^the caller refused the callee's media: (.+)$"),
        N_("the caller refused the callee's media: {0}"),
    ),
    (re.compile(r"^cannot route to (\S+): (.+)$"), N_("cannot route to {0}: {1}")),
    # Timer results.
    (re.compile(r"^error: (.+)$"), N_("error: {0}")),
    (re.compile(r"^gave up: (.+)$"), N_("gave up: {0}")),
    # Delivery errors (engine/notifications/sender.py, engine/notifications/http.py).
    (
        re.compile(r"^answered after the ([\d.]+) s timeout$"),
        N_("answered after the {0} s timeout"),
    ),
    (re.compile(r"^target refused: (.+)$"), N_("target refused: {0}")),
    (re.compile(r"^account settings not read: (.+)$"), N_("account settings not read: {0}")),
    (re.compile(r"^ConnectError: (.*)$"), N_("could not connect: {0}")),
    (re.compile(r"^ConnectTimeout: (.*)$"), N_("connecting timed out: {0}")),
    (re.compile(r"^ReadTimeout: (.*)$"), N_("no answer in time: {0}")),
    (re.compile(r"^RemoteProtocolError: (.*)$"), N_("the receiver broke the exchange: {0}")),
    (re.compile(r"^NetworkError: (.*)$"), N_("network error: {0}")),
    (re.compile(r"^UnsupportedProtocol: (.*)$"), N_("not sendable: {0}")),
    (
        re.compile(r"^cannot send to a URL with (\w+) scheme$"),
        N_("cannot send to a URL with {0} scheme"),
    ),
    (re.compile(r"^\[Errno (\d+)\] (.+)$"), "[Errno {0}] {1}"),
]

# Whole phrases stored as they are (also met inside the forms above).
PHRASES = [
    N_("happened after the talk time ended"),
    N_("no credit left"),
    N_("fired"),
    N_("carrier told"),
    N_("held: account at its limit"),
    N_("timer B expired"),
    N_("connection refused"),
    N_("Connection refused"),
    N_("BYE from the far end"),
    N_("the callee answered without an SDP offer"),
    N_("no answer"),
    N_("timed out"),
    N_("Remote end closed connection without response"),
    N_("Name or service not known"),
    N_("No route to host"),
    N_("Connection reset by peer"),
]

_DECIMAL = re.compile(r"^\d+\.\d+$")


def _part(value: str) -> str:
    """A captured part: a known phrase or form translated, a decimal number in the
    viewer's form, anything else (names, statuses) as it is."""
    if current_lang() == "tr" and _DECIMAL.match(value):
        return value.replace(".", ",")
    return stored_text(value)


def stored_text(text: str | None) -> str:
    """Stored English text in the viewer's language where its form is known."""
    if not text:
        return ""
    for pattern, template in _FORMS:
        found = pattern.match(text)
        if found:
            return translate(template).format(*(_part(g) for g in found.groups()))
    return translate(text)


def term(value: object) -> str:
    """A stored word (event source, timer kind or state, a leg) in the viewer's language."""
    return translate(str(value)) if value is not None else ""
