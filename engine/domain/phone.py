"""Phone numbers: validated and normalised with ``phonenumbers``."""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

from engine.errors import InvalidPhoneNumber

_ALLOWED = re.compile(r"^\+?[0-9(][0-9 ()\-.]{2,30}$")


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    e164: str  # +905320000001
    national: str  # 5320000001 (national significant number)


def parse_number(raw: str, region: str) -> PhoneNumber:
    """Parse ``raw`` as a number of ``region`` (or international with ``+``).

    Only digits and the usual separators are accepted: ``phonenumbers`` alone would read
    letters as a vanity number, which is not what a customer sending ``5xxyyyzztt`` means.
    """
    text = raw.strip()
    if not _ALLOWED.match(text):
        raise InvalidPhoneNumber(raw)
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(raw) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(raw)
    return PhoneNumber(
        e164=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
        national=phonenumbers.national_significant_number(parsed),
    )
