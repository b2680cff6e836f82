"""Callback URL checks: account URLs (any host) and customer URLs (public hosts only)."""

from __future__ import annotations

import pytest

from engine.config import NotificationSettings
from engine.notifications.urls import (
    UrlRefused,
    check_callback_url,
    check_send_target,
    redact,
    validate_customer_url,
)


class FakeResolver:
    """A resolver giving each answer in turn (the last one from then on); records asks."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        return self.answers[min(len(self.asked), len(self.answers)) - 1]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/callback",
        "https://example.com/cb?token=abc&x=1",
        "http://[::1]:9000/",
        "http://10.1.2.3/internal",
        "HTTPS://Example.COM",
    ],
)
def test_account_urls_may_point_anywhere(url: str) -> None:
    assert check_callback_url(url) == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/x", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("example.com/cb", "http:// or https://"),
        ("http:///path-only", "no host"),
        ("http://example.com:99999/", "not a valid URL"),
        ("http://example.com:port/", "not a valid URL"),
        ("http://example.com/a b", "spaces"),
        ("http://example.com/\r\nX-Injected: 1", "control"),
        ("", "required"),
    ],
)
def test_malformed_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(UrlRefused, match=message):
        check_callback_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://user:hunter2@example.com/cb",
        "http://hunter2@example.com/cb",
        "http://:hunter2@127.0.0.1/",
        "http://@example.com/",
        "ftp://user:hunter2@example.com/",
    ],
)
def test_credentials_in_a_url_are_refused_and_never_repeated(url: str) -> None:
    for check in (check_callback_url, lambda u: validate_customer_url(u, allow_private=True)):
        with pytest.raises(UrlRefused) as err:
            check(url)
        assert "hunter2" not in str(err.value)
    assert "user name or password" in str(err.value) or "http://" in str(err.value)


def test_redact_hides_the_user_info_only() -> None:
    assert redact("https://u:p@example.com:8443/cb?q=1") == "https://***@example.com:8443/cb?q=1"
    assert redact("https://example.com/cb?mail=a@b") == "https://example.com/cb?mail=a@b"


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("127.9.9.9", "loopback"),
        ("[::1]", "loopback"),
        ("[::ffff:127.0.0.1]", "loopback"),
        ("[::ffff:7f00:1]", "loopback"),
        ("[0:0:0:0:0:ffff:127.0.0.1]", "loopback"),
        ("[::127.0.0.1]", "loopback"),
        ("[64:ff9b::127.0.0.1]", "loopback"),
        ("[2002:7f00:1::]", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("[::]", "unspecified"),
        ("169.254.169.254", "link-local"),
        ("[fe80::1]", "link-local"),
        ("10.0.0.1", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.254", "private"),
        ("192.168.1.1", "private"),
        ("[fc00::1]", "private"),
        ("[fd12:3456::1]", "private"),
        ("[::ffff:10.0.0.1]", "private"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("[ff02::1]", "multicast"),
        ("100.64.0.1", "not a public"),
        ("255.255.255.255", "private"),
        ("198.18.0.1", "private"),
        # Numeric spellings resolvers accept; refused whatever they stand for.
        ("0x7f000001", "unusual spelling"),
        ("2130706433", "unusual spelling"),
        ("0177.0.0.1", "unusual spelling"),
        ("0x7f.0.0.1", "unusual spelling"),
        ("127.1", "unusual spelling"),
        ("017700000001", "unusual spelling"),
        ("127.0.0.1.", "unusual spelling"),
        ("0x08080808", "unusual spelling"),
    ],
)
def test_customer_urls_to_internal_or_odd_hosts_are_refused(host: str, why: str) -> None:
    url = f"http://{host}:8080/cb"
    never = FakeResolver()  # an IP literal is not looked up
    with pytest.raises(UrlRefused, match=why):
        validate_customer_url(url, allow_private=False, resolve=never)
    with pytest.raises(UrlRefused, match=why):
        check_send_target(url, allow_private=False, resolve=never)
    assert never.asked == []
    # With allow_private_targets, only the form is checked.
    assert validate_customer_url(url, allow_private=True) == url
    assert check_send_target(url, allow_private=True) is None


def test_names_are_judged_by_every_address_they_resolve_to() -> None:
    url = "https://hooks.example.com/cb"
    public = FakeResolver(["93.184.216.34", "2606:2800:220:1::1"])
    assert validate_customer_url(url, allow_private=False, resolve=public) == url
    assert public.asked == [("hooks.example.com", 443)]
    for answer in (["93.184.216.34", "10.0.0.7"], ["::ffff:192.168.0.1"], ["fe80::1%2"]):
        with pytest.raises(UrlRefused, match=r"hooks\.example\.com' resolves to"):
            validate_customer_url(url, allow_private=False, resolve=FakeResolver(answer))
    with pytest.raises(UrlRefused, match="resolves to no address"):
        validate_customer_url(url, allow_private=False, resolve=FakeResolver([]))

    def broken(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(UrlRefused, match="cannot be resolved"):
        validate_customer_url(url, allow_private=False, resolve=broken)


def test_localhost_is_refused_through_the_system_resolver() -> None:
    with pytest.raises(UrlRefused, match="loopback"):
        validate_customer_url("http://localhost:8080/cb", allow_private=False)


def test_public_literals_and_public_neighbours_of_private_ranges_pass() -> None:
    for host in ("93.184.216.34", "172.15.255.1", "172.32.0.1", "[2606:4700::1111]"):
        url = f"http://{host}/cb"
        assert validate_customer_url(url, allow_private=False, resolve=FakeResolver()) == url


def test_the_send_time_check_resolves_again_and_pins_the_checked_address() -> None:
    """DNS rebinding: the name resolved to a public address when the URL was accepted,
    and to a loopback one by the time the notification is sent."""
    rebinding = FakeResolver(["93.184.216.34"], ["127.0.0.1"])
    url = "http://rebind.example/cb"
    validate_customer_url(url, allow_private=False, resolve=rebinding)
    with pytest.raises(UrlRefused, match="loopback"):
        check_send_target(url, allow_private=False, resolve=rebinding)
    assert len(rebinding.asked) == 2
    steady = FakeResolver(["93.184.216.34", "93.184.216.35"])
    assert check_send_target(url, allow_private=False, resolve=steady) == "93.184.216.34"


def test_the_setting_is_off_by_default() -> None:
    assert NotificationSettings().allow_private_targets is False
    assert NotificationSettings(allow_private_targets=True).allow_private_targets
