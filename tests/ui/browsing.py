"""What the browser tests share: Debian's Chromium, `callbridge serve` with two accounts
and three UI users, placing calls and signing in."""

from __future__ import annotations

import json
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.store.migrate import upgrade
from tests.e2e.conftest import SIM_RULES, Service
from tests.support import Receiver

CHROMIUM = "/usr/bin/chromium"
IN_CI = os.environ.get("CI") == "true"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "browser-pass-1"

# Every browser test module sets ``pytestmark = BROWSER``.
BROWSER = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() and not IN_CI, reason=f"{CHROMIUM} missing (not CI)"
    ),
]


def serve(tmp_path: Path, receiver: Receiver, config: str = SIM_RULES) -> Iterator[Service]:
    """`callbridge serve` on SQLite (with ``config``): accounts acme and other; users op
    (operator), alice (acme) and bob (other)."""
    url = f"sqlite:///{tmp_path / 'callbridge.db'}"
    upgrade(url)
    svc = Service(tmp_path, url, config)
    for name in ("acme", "other"):
        made = svc.cli(
            "account", "create", "--username", name, "--password", "correct horse",
            "--callback-url", receiver.url,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
    for args in (("--operator",), ("--account", "acme"), ("--account", "other")):
        name = {"--operator": "op", "acme": "alice", "other": "bob"}[args[-1]]
        made = svc.cli("user", "create", "--username", name, "--password", PASSWORD, *args)
        assert made.returncode == 0, made.stderr
    listed = svc.cli("user", "list", "--json")
    roles = {u["username"]: (u["role"], u["account"]) for u in json.loads(listed.stdout)}
    assert roles["op"] == ("operator", None) and roles["alice"] == ("account user", "acme")
    svc.start()
    yield svc
    svc.kill(signal.SIGTERM)


def launch() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def place(svc: Service, account: str, caller: str, callee: str, duration: int = 2) -> int:
    response = httpx.post(
        svc.url + "/api/v1/calls",
        data={"username": account, "password": "correct horse", "caller": caller,
              "callee": callee, "duration": str(duration)},
        timeout=10,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    return int(response.json()["id"])


def sign_in(page: Any, svc: Service, user: str) -> None:
    page.goto(svc.url + "/ui/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/ui/$"))
