"""The engine's small exception family; the web layer turns them into the API's JSON."""

from __future__ import annotations


class CallbridgeError(Exception):
    """Base of every error the engine raises on purpose."""


class CallNotFound(CallbridgeError, LookupError):
    def __init__(self, call_id: int) -> None:
        super().__init__(f"call {call_id} does not exist")
        self.call_id = call_id


class AccountNotFound(CallbridgeError, LookupError):
    def __init__(self, username: str) -> None:
        super().__init__(f"account {username!r} does not exist")
        self.username = username


class AccountExists(CallbridgeError, ValueError):
    def __init__(self, username: str) -> None:
        super().__init__(f"account {username!r} already exists")
        self.username = username


class InvalidPhoneNumber(CallbridgeError, ValueError):
    """A number that is not a phone number (the API names the parameter)."""


class IdempotencyConflict(CallbridgeError, ValueError):
    """An Idempotency-Key used before with other parameters (HTTP 422)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} was used with other parameters")
        self.key = key
