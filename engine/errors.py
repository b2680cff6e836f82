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


class Conflict(CallbridgeError):
    """A write lost a race: another transaction stored the same unique key first."""


class StoreUnavailable(CallbridgeError, RuntimeError):
    """The database cannot be reached right now (the API answers 503)."""


class NotInProgress(CallbridgeError, ValueError):
    def __init__(self, call_id: int, state_name: str) -> None:
        super().__init__(f"call {call_id} is {state_name}: nothing to hang up")
        self.call_id = call_id


class NotificationNotFound(CallbridgeError, LookupError):
    def __init__(self, notification_id: int) -> None:
        super().__init__(f"notification {notification_id} does not exist")


class UserExists(CallbridgeError, ValueError):
    def __init__(self, username: str) -> None:
        super().__init__(f"user {username!r} already exists")
        self.username = username


class UserNotFound(CallbridgeError, LookupError):
    def __init__(self, username: str) -> None:
        super().__init__(f"user {username!r} does not exist")
        self.username = username


class CarrierError(CallbridgeError, RuntimeError):
    """The driver could not even start the requested action."""


class WebhookError(CallbridgeError):
    """No HTTP answer: ``kind`` is ConnectError, ConnectTimeout, ReadTimeout, ..."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


class ConfigError(CallbridgeError, ValueError):
    """The settings cannot be used; ``problems`` each name a source and a dotted key.

    The message is one line, e.g. ``config/x.toml: unknown key api.prot (did you mean
    api.port?)``; several problems are joined with ``"; "``.
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class LoginLocked(CallbridgeError):
    """Too many failed logins for this username or client address (the API answers 429).

    ``retry_after`` is the whole number of seconds until the window ends.
    """

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; retry in {retry_after} s")
        self.retry_after = retry_after
