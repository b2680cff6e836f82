"""The outbox against a real HTTP receiver on 127.0.0.1: order, retries, nothing lost."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select, update
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from engine.domain.events import Leg, LegEventKind
from engine.notifications import urls
from engine.notifications.headers import header_lines, parse_lines
from engine.notifications.sender import NotificationSender, sign
from engine.notifications.urls import Resolver, validate_customer_url
from engine.store import outbox
from engine.store.accounts import rotate_secret
from engine.store.database import transaction
from engine.store.outbox import AttemptResult, Outgoing
from engine.store.schema import account, notification, notification_attempt
from tests.integration.conftest import Harness
from tests.support import Hit, Receiver


@dataclass
class Request:
    """One request exactly as it arrived: method, request-line target, headers, body."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def query(self) -> str:
        """The raw query string of the request line (what a GET callback signs)."""
        return self.target.partition("?")[2]


class RawReceiver:
    """A callback endpoint on 127.0.0.1 that keeps each request as received (unparsed)."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.extra_headers: list[tuple[str, str]] = []  # sent with every answer
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _record(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.requests.append(
                    Request(self.command, self.path, dict(self.headers.items()), body)
                )
                self.send_response(200)
                self.send_header("content-length", "2")
                for name, value in outer.extra_headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST = _record

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def raw(harness: Harness) -> Iterator[RawReceiver]:
    """A raw receiver as the account's callback URL; the harness clock set to now (the
    standardwebhooks package refuses timestamps more than 5 minutes from its clock)."""
    rec = RawReceiver()
    with harness.db.begin() as conn:
        conn.execute(update(account).values(callback_url=rec.url))
    harness.clock.now = time.time()
    yield rec
    rec.stop()


def secret_of(h: Harness) -> str:
    with h.db.connect() as conn:
        return str(conn.execute(select(account.c.signing_secret)).scalar_one())


def verify(secret: str, req: Request, payload: str | bytes | None = None) -> None:
    """What a receiver does with the standardwebhooks package: a GET's payload is the
    raw query string, a POST's the body; json_parse=False since a query is not JSON."""
    if payload is None:
        payload = req.body if req.method == "POST" else req.query
    Webhook(secret).verify(payload, req.headers, json_parse=False)


def attempts(h: Harness, call_id: int) -> list[tuple[int, int | None, bool, str]]:
    with h.db.connect() as conn:
        rows = conn.execute(
            select(
                notification.c.seq,
                notification_attempt.c.status,
                notification_attempt.c.ok,
                notification_attempt.c.error,
            )
            .join(notification, notification.c.id == notification_attempt.c.notification_id)
            .where(notification.c.call_id == call_id)
            .order_by(notification_attempt.c.id)
        ).all()
    return [(r.seq, r.status, r.ok, r.error) for r in rows]


def test_delivers_every_change_in_order_with_the_seed_query(
    harness: Harness, receiver: Receiver
) -> None:
    call_id = harness.bridge()
    harness.flush_notifications()
    harness.event(call_id, Leg.CALLER, LegEventKind.HUNG_UP, cause=16)
    harness.flush_notifications()
    assert receiver.codes(call_id) == [0, 1, 2, 11]
    hit = receiver.answered[-1]
    assert hit.path == "/callback"
    assert hit.query == {
        "id": str(call_id),
        "code": "11",
        "desc": "CALLER_CLOSED",
        "cause": "16",
        "time": str(int(harness.clock())),
    }
    assert [n.state for n in harness.notifications(call_id)] == ["delivered"] * 4


def test_requests_carry_standard_webhooks_signatures_of_the_query(
    harness: Harness, raw: RawReceiver
) -> None:
    call_id = harness.register()
    harness.timers.run_due()
    harness.flush_notifications()
    secret = secret_of(harness)
    (req,) = raw.requests
    assert req.method == "GET" and req.body == b""
    msg_id, ts = req.headers["webhook-id"], req.headers["webhook-timestamp"]
    assert int(ts) == int(harness.clock())
    # The signed content, computed by hand: id.timestamp.<the query of the request line>.
    assert req.query == f"id={call_id}&code=0&desc=CALLS_STARTING&cause=0&time={ts}"
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{ts}.{req.query}".encode()
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert req.headers["webhook-signature"] == f"v1,{expected}"


def test_each_attempt_keeps_the_headers_sent_and_answered_without_credentials(
    harness: Harness, raw: RawReceiver
) -> None:
    raw.extra_headers = [
        ("Set-Cookie", "session=abc123; HttpOnly"),
        ("X-Auth-Token", "tok-456"),
        ("X-Receiver", "raw " + "x" * 300),
    ]
    call_id = harness.register()
    harness.timers.run_due()
    harness.flush_notifications()
    (req,) = raw.requests
    with harness.db.connect() as conn:
        (row,) = conn.execute(
            select(notification_attempt)
            .join(notification, notification.c.id == notification_attempt.c.notification_id)
            .where(notification.c.call_id == call_id)
        ).all()
    # The URL and the Standard Webhooks fields exactly as the receiver got them.
    assert row.url == raw.url + "?" + req.query
    sent = dict(parse_lines(row.request_headers))
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature", "User-Agent"):
        assert sent[name] == req.headers[name], name
    verify(secret_of(harness), req)
    answered = row.response_headers
    assert "Set-Cookie: •••" in answered and "abc123" not in answered
    assert "X-Auth-Token: •••" in answered and "tok-456" not in answered
    receiver_line = next(v for k, v in parse_lines(answered) if k == "X-Receiver")
    assert len(receiver_line) == 200 and receiver_line.endswith("…")
    assert "content-length: 2" in answered  # names as the receiver wrote them


def test_header_lines_are_bounded() -> None:
    many = [(f"X-Field-{i}", "v" * 150) for i in range(100)]
    text = header_lines(many)
    assert len(text) <= 2000 and text.endswith("\n…")
    assert header_lines([("Authorization", "Bearer x"), ("A", "b\r\nInjected: 1")]) == (
        "Authorization: •••\nA: b Injected: 1"
    )


def test_the_reference_library_verifies_a_callback_and_refuses_a_changed_one(
    harness: Harness, raw: RawReceiver
) -> None:
    call_id = harness.register()
    harness.timers.run_due()
    harness.event(call_id, Leg.CALLER, LegEventKind.BUSY, cause=17)
    harness.flush_notifications()
    secret = secret_of(harness)
    assert [r.query.split("&")[1] for r in raw.requests] == ["code=0", "code=3"]
    for req in raw.requests:
        verify(secret, req)
    genuine = raw.requests[-1]
    # A captured request replayed with another code (or any other parameter) fails.
    for old, new in (
        ("code=3", "code=13"),
        ("cause=17", "cause=16"),
        (f"id={call_id}&", "id=999&"),
    ):
        assert old in genuine.query
        with pytest.raises(WebhookVerificationError):
            verify(secret, genuine, genuine.query.replace(old, new))
    with pytest.raises(WebhookVerificationError):  # what the old signing covered
        verify(secret, genuine, "")
    with pytest.raises(WebhookVerificationError):  # another account's secret
        verify("whsec_" + base64.b64encode(b"x" * 24).decode(), genuine)
    # Without json_parse=False the library checks the signature, then fails on the
    # query as JSON: a genuine GET callback must be verified with json_parse=False.
    with pytest.raises(ValueError, match="Expecting value"):
        Webhook(secret).verify(genuine.query, genuine.headers)


def test_the_signature_covers_a_query_the_callback_url_already_has(
    harness: Harness, raw: RawReceiver
) -> None:
    with harness.db.begin() as conn:
        conn.execute(update(account).values(callback_url=raw.url + "?token=s3cret&x=a%20b"))
    call_id = harness.register()
    harness.timers.run_due()
    harness.flush_notifications()
    (req,) = raw.requests
    assert req.target.startswith("/hook?token=s3cret&x=a+b&id=" + str(call_id))
    verify(secret_of(harness), req)
    with pytest.raises(WebhookVerificationError):
        verify(secret_of(harness), req, req.query.replace("token=s3cret", "token=other"))


def test_a_failing_receiver_gets_retries_in_order_and_loses_nothing(
    harness: Harness, receiver: Receiver
) -> None:
    receiver.mode = "error"
    call_id = harness.bridge()
    harness.flush_notifications()
    # Only the first notification is tried; the ones after it wait their turn.
    assert attempts(harness, call_id) == [(1, 500, False, "HTTP 500")]
    assert [n.state for n in harness.notifications(call_id)] == ["pending", "queued", "queued"]
    harness.clock.advance(5)  # second try after 5 s
    harness.flush_notifications()
    assert [a[0] for a in attempts(harness, call_id)] == [1, 1]
    receiver.mode = "ok"
    harness.clock.advance(300)  # third try after 5 min
    harness.flush_notifications()
    assert receiver.codes(call_id) == [0, 1, 2]
    assert receiver.codes(call_id, answered_only=False) == [0, 0, 0, 1, 2]
    assert [a[2] for a in attempts(harness, call_id)] == [False, False, True, True, True]


def test_a_receiver_that_is_down_then_back(harness: Harness, receiver: Receiver) -> None:
    receiver.stop()
    call_id = harness.bridge()
    harness.flush_notifications()
    (first,) = attempts(harness, call_id)
    assert first[1] is None and not first[2] and "Connect" in first[3]
    receiver.start()
    harness.clock.advance(5)
    harness.flush_notifications()
    assert receiver.codes(call_id) == [0, 1, 2]


def test_a_slow_answer_does_not_count(harness: Harness, receiver: Receiver) -> None:
    receiver.mode, receiver.delay = "slow", 1.0  # the harness timeout is 0.5 s
    call_id = harness.register()
    harness.timers.run_due()
    harness.flush_notifications()
    (only,) = attempts(harness, call_id)
    assert not only[2] and ("Timeout" in only[3] or "timeout" in only[3])
    receiver.mode = "ok"
    harness.clock.advance(5)
    harness.flush_notifications()
    assert harness.notifications(call_id)[0].state == "delivered"


def test_retries_follow_the_schedule_then_give_up_and_let_the_next_go(
    harness: Harness, receiver: Receiver
) -> None:
    receiver.mode = "error"
    call_id = harness.register()
    harness.timers.run_due()
    harness.event(call_id, Leg.CALLER, LegEventKind.BUSY, cause=17)
    schedule = harness.sender.settings.schedule
    harness.flush_notifications()
    for delay in schedule[1:]:
        harness.clock.advance(delay - 0.01)
        harness.flush_notifications()
        assert len(attempts(harness, call_id)) < len(schedule)  # not yet
        harness.clock.advance(0.02)
        harness.flush_notifications()
    first = harness.notifications(call_id)[0]
    assert first.state == "failed" and first.tries == len(schedule)
    assert sum(delay for delay in schedule) > 3600 * 24  # retried for more than a day
    # The next one was tried as soon as the first was given up.
    assert receiver.codes(call_id, answered_only=False)[-1] == 3
    receiver.mode = "ok"
    harness.clock.advance(5)
    harness.flush_notifications()
    assert receiver.codes(call_id) == [3]


def test_an_expired_lease_is_sent_again(harness: Harness, receiver: Receiver) -> None:
    call_id = harness.register()
    harness.timers.run_due()
    with transaction(harness.db) as conn:  # a sender claims it and dies
        (item,) = outbox.claim_ready(conn, harness.clock(), 10, lease=15)
    harness.flush_notifications()
    assert receiver.codes(call_id) == []
    harness.clock.advance(16)
    harness.flush_notifications()
    assert receiver.codes(call_id) == [0]
    assert item.call_id == call_id


def test_callback_url_query_is_kept(harness: Harness, receiver: Receiver) -> None:
    with harness.db.begin() as conn:
        conn.execute(update(account).values(callback_url=receiver.url + "?token=abc&x=1"))
    call_id = harness.register()
    harness.timers.run_due()
    harness.flush_notifications()
    hit = receiver.answered[0]
    assert hit.query["token"] == "abc" and hit.query["x"] == "1"
    assert hit.query["id"] == str(call_id)


def test_a_settling_sender_and_a_new_notification_never_miss_each_other(
    harness: Harness, receiver: Receiver
) -> None:
    """An event queues a new notification behind the unsettled head while, at the
    same moment, the sender settles that head: the new one must end up pending (the
    sender waits for the call's lock), never queued behind nothing forever."""
    call_id = harness.register()
    harness.timers.run_due()  # code 0, pending
    with transaction(harness.db) as conn:
        (item,) = outbox.claim_ready(conn, harness.clock(), 10, lease=15)
    ok = AttemptResult(harness.clock(), "http://x", 200, 1.0, True)
    settled = threading.Event()

    def settle() -> None:
        with transaction(harness.db) as conn:
            outbox.record_attempt(conn, item, ok, next_attempt_at=None)
        settled.set()

    with transaction(harness.db) as conn:
        harness.apply_in(conn, call_id, "caller_answered")
        sender = threading.Thread(target=settle)
        sender.start()
        assert not settled.wait(0.5)  # it waits for the call's lock
    sender.join(10)
    assert settled.is_set()
    assert [n.state for n in harness.notifications(call_id)] == ["delivered", "pending"]
    harness.flush_notifications()
    assert receiver.codes(call_id) == [1]


def test_a_backlog_of_queued_notifications_is_not_scanned(
    harness: Harness, receiver: Receiver
) -> None:
    """A dead receiver leaves one pending head per call with later ones queued behind
    it; the next due time is the earliest head, not a queued row that is due now."""
    receiver.stop()
    ids = [harness.bridge() for _ in range(3)]
    harness.flush_notifications()
    with harness.db.connect() as conn:
        assert outbox.next_ready(conn) == pytest.approx(harness.clock() + 5, abs=0.01)
    states = [n.state for i in ids for n in harness.notifications(i)]
    assert states == ["pending", "queued", "queued"] * 3


def use_post(h: Harness) -> None:
    with h.db.begin() as conn:
        conn.execute(update(account).values(callback_method="post"))


def test_post_sends_the_fields_as_json_signed_over_the_body(
    harness: Harness, raw: RawReceiver
) -> None:
    use_post(harness)
    with harness.db.begin() as conn:  # the URL's own query stays in the request line
        conn.execute(update(account).values(callback_url=raw.url + "?token=abc"))
    call_id = harness.register()
    harness.timers.run_due()
    harness.event(call_id, Leg.CALLER, LegEventKind.BUSY, cause=17)
    harness.flush_notifications()
    first, last = raw.requests
    assert (last.method, last.target) == ("POST", "/hook?token=abc")
    assert last.headers["Content-Type"] == "application/json"
    assert int(last.headers["Content-Length"]) == len(last.body)
    fields = {"id": call_id, "code": 3, "desc": "CALLER_BUSY", "cause": 17}
    assert json.loads(last.body) == {**fields, "time": int(harness.clock())}
    secret = secret_of(harness)
    for req in raw.requests:
        # The reference library's default: verify the body, return it parsed.
        assert Webhook(secret).verify(req.body, req.headers)["id"] == call_id
    assert Webhook(secret).verify(first.body, first.headers)["code"] == 0
    changed = last.body.replace(b'"code":3', b'"code":13')
    assert changed != last.body
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(changed, last.headers)
    with pytest.raises(WebhookVerificationError):  # the body is signed, not the query
        verify(secret, last, last.query)


def test_post_carries_the_attempt_of_a_redial(harness: Harness, raw: RawReceiver) -> None:
    use_post(harness)
    call_id = harness.register()
    item = Outgoing(
        1, call_id, 1, 0, 0, harness.clock(), 0, raw.url, secret_of(harness), "c", 2, "post"
    )
    assert harness.sender.send(item).ok
    (req,) = raw.requests
    assert json.loads(req.body)["attempt"] == 2
    verify(secret_of(harness), req)


def test_a_notification_built_without_the_account_settings_is_sent_their_way(
    harness: Harness, raw: RawReceiver
) -> None:
    """An operator's re-send builds its item from the notification row alone: the sender
    reads the account's method (and secrets) itself."""
    use_post(harness)
    call_id = harness.register()
    item = Outgoing(1, call_id, 1, 0, 0, harness.clock(), 0, "http://stale", "whsec_x", "op")
    result = harness.sender.send(item)
    assert result.ok and result.url == raw.url
    (req,) = raw.requests
    assert req.method == "POST"
    verify(secret_of(harness), req)


def send_code_0(h: Harness, sender: NotificationSender | None = None) -> None:
    """Register a call and send its code 0 with ``sender`` (the harness's by default)."""
    call_id = h.register()
    item = Outgoing(1, call_id, 1, 0, 0, h.clock(), 0, "", "", "claim")  # account's settings
    assert (sender or h.sender).send(item).ok


@pytest.mark.parametrize("method", ["get", "post"])
def test_old_and_new_secrets_both_verify_during_the_overlap_then_only_the_new(
    harness: Harness, raw: RawReceiver, method: str
) -> None:
    with harness.db.begin() as conn:
        conn.execute(update(account).values(callback_method=method))
    old = secret_of(harness)
    # 2 minutes of overlap, so that the times signed stay within the 5 minutes the
    # standardwebhooks package accepts around its own (real) clock.
    settings = harness.sender.settings.model_copy(update={"secret_overlap": 120.0})
    sender = NotificationSender(harness.store, settings, clock=harness.clock)
    try:
        new = rotate_secret(harness.db, "acme", clock=harness.clock)
        assert new != old and new.startswith("whsec_") and secret_of(harness) == new
        harness.clock.advance(119)
        send_code_0(harness, sender)
        during = raw.requests[-1]
        assert len(during.headers["webhook-signature"].split(" ")) == 2
        verify(old, during)  # a receiver not yet switched
        verify(new, during)  # a receiver already switched
        harness.clock.advance(1)  # the overlap is over
        send_code_0(harness, sender)
        after = raw.requests[-1]
        assert len(after.headers["webhook-signature"].split(" ")) == 1
        verify(new, after)
        with pytest.raises(WebhookVerificationError):
            verify(old, after)
    finally:
        sender.close()


def test_the_default_overlap_is_a_day_and_a_second_rotation_drops_the_oldest(
    harness: Harness, receiver: Receiver
) -> None:
    def signed_with(hit: Hit) -> list[str]:
        """Which of the secrets seen signed the request (checked by hand)."""
        msg_id, ts = hit.headers["webhook-id"], hit.headers["webhook-timestamp"]
        query = "&".join(f"{k}={v}" for k, v in hit.query.items())  # plain values only
        entries = hit.headers["webhook-signature"].split(" ")
        return [s for s in secrets if sign(s, msg_id, int(ts), query.encode()) in entries]

    assert harness.sender.settings.secret_overlap == 86400
    secrets = [secret_of(harness)]
    secrets.append(rotate_secret(harness.db, "acme", clock=harness.clock))
    harness.clock.advance(86399)
    send_code_0(harness)
    assert signed_with(receiver.hits[-1]) == secrets[:2]
    secrets.append(rotate_secret(harness.db, "acme", clock=harness.clock))
    send_code_0(harness)
    assert signed_with(receiver.hits[-1]) == secrets[1:]  # the first one is gone
    harness.clock.advance(86400)
    send_code_0(harness)
    assert signed_with(receiver.hits[-1]) == secrets[2:]


def customer_item(h: Harness, url: str) -> Outgoing:
    call_id = h.register()
    item = Outgoing(1, call_id, 1, 0, 0, h.clock(), 0, url, secret_of(h), "c", method="get")
    return dataclasses.replace(item, customer_url=True)


def sender_with(h: Harness, resolve: Resolver | None = None, **settings: Any) -> NotificationSender:
    config = h.sender.settings.model_copy(update=settings)
    return NotificationSender(h.store, config, clock=h.clock, resolve=resolve)


def test_a_customer_url_to_this_machine_is_refused_at_send_time(
    harness: Harness, raw: RawReceiver
) -> None:
    item = customer_item(harness, raw.url)
    sender = sender_with(harness)
    try:
        result = sender.send(item)
    finally:
        sender.close()
    assert not result.ok and result.status is None
    assert result.error.startswith("target refused:") and "loopback" in result.error
    assert raw.requests == []
    # The account's own URL (set by an operator) is the same receiver: it is sent.
    assert harness.sender.send(dataclasses.replace(item, customer_url=False)).ok
    assert len(raw.requests) == 1


def test_allow_private_targets_lets_a_customer_url_reach_this_machine(
    harness: Harness, raw: RawReceiver
) -> None:
    sender = sender_with(harness, allow_private_targets=True)
    try:
        assert sender.send(customer_item(harness, raw.url)).ok
    finally:
        sender.close()
    verify(secret_of(harness), raw.requests[0])


def test_a_name_rebound_to_an_internal_address_is_not_sent_to(
    harness: Harness, raw: RawReceiver
) -> None:
    """The name passed the check when the URL was given; at send time it resolves to
    127.0.0.1: the sender looks again and refuses, no connection made."""
    port = raw.url.split(":")[2].split("/")[0]
    url = f"http://rebind.invalid:{port}/hook"
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])

    def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    validate_customer_url(url, allow_private=False, resolve=rebinding)
    sender = sender_with(harness, resolve=rebinding)
    try:
        result = sender.send(customer_item(harness, url))
    finally:
        sender.close()
    assert "target refused" in result.error and "rebind.invalid" in result.error
    assert raw.requests == []


def test_the_sender_connects_to_the_address_it_checked(
    harness: Harness, raw: RawReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host name resolves nowhere but through the check's lookup: the request still
    arrives, so the connection went to the checked address, not to a second lookup.
    (Loopback counts as public here, for the test only: no other address is reachable.)"""
    monkeypatch.setattr(urls, "refusal", lambda address: None)
    port = raw.url.split(":")[2].split("/")[0]
    url = f"http://hooks.invalid:{port}/hook"
    looked_up: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return ["127.0.0.1"]

    sender = sender_with(harness, resolve=resolve)
    try:
        assert sender.send(customer_item(harness, url)).ok
    finally:
        sender.close()
    assert looked_up == ["hooks.invalid"]
    (req,) = raw.requests
    assert req.headers["Host"] == f"hooks.invalid:{port}"
    verify(secret_of(harness), req)
