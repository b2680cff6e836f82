"""Delivers the outbox to each account's callback URL.

By default ``GET <callback_url>?id=&code=&desc=&cause=&time=``; an account set to POST
gets ``POST <callback_url>`` with the same fields as a JSON object. Both are signed with
the Standard Webhooks headers ``webhook-id``, ``webhook-timestamp`` and
``webhook-signature``: the signed content is ``<webhook-id>.<webhook-timestamp>.<payload>``
where the payload of a GET is the query string exactly as sent in the request line
(without the ``?``; any query the callback URL already had is part of it) and the
payload of a POST is its body, byte for byte. A request whose parameters were changed
does not verify. For a while after the account's secret was rotated, the request is
signed with the new and the old secret (``webhook-signature`` then holds two
space-separated ``v1,`` entries, new first). Only a 2xx within the timeout counts;
anything else is retried on the schedule, and every attempt is stored. Per call, a
notification waits until the one before it is settled, so a receiver sees the codes in
order.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from engine import metrics
from engine.config import NotificationSettings
from engine.domain.codes import StatusCode
from engine.errors import StoreUnavailable, WebhookError
from engine.notifications.headers import header_lines
from engine.notifications.http import WebhookClient
from engine.notifications.urls import Resolver, UrlRefused, check_send_target, redact
from engine.store import outbox
from engine.store.outbox import AttemptResult, Outgoing
from engine.store.unit_of_work import Store

log = logging.getLogger("callbridge.notifications")

USER_AGENT = "callbridge/0.1"


def sign(secret: str, msg_id: str, timestamp: int, payload: bytes) -> str:
    """One Standard Webhooks signature (``v1,<base64 HMAC-SHA256>``) of
    ``msg_id.timestamp.payload`` under a ``whsec_`` secret."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + payload
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _fields(item: Outgoing) -> list[tuple[str, int | str]]:
    """The notification's fields, in the order they are sent."""
    fields: list[tuple[str, int | str]] = [
        ("id", item.call_id),
        ("code", item.code),
        ("desc", StatusCode(item.code).desc),
        ("cause", item.cause),
        ("time", int(item.event_time)),
    ]
    if item.attempt > 1:  # a re-dial: an extra field old integrations ignore
        fields.append(("attempt", item.attempt))
    if item.custom is not None:  # the customer's own data, given at registration
        fields.append(("custom", item.custom))
    return fields


def notification_body(item: Outgoing) -> bytes:
    """The JSON body of a POST notification (numbers as numbers, ``desc`` a string)."""
    return json.dumps(dict(_fields(item)), separators=(",", ":")).encode()


def notification_url(base: str, item: Outgoing) -> str:
    """The callback URL with the notification's fields added to any query it already has
    (the GET form: ``id``, ``code``, ``desc``, ``cause``, ``time``, then ``attempt`` and
    ``custom`` when the call has them)."""
    parts = urlsplit(base)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(name, str(value)) for name, value in _fields(item)]
    return urlunsplit(parts._replace(query=urlencode(query)))


@dataclass(frozen=True, slots=True)
class Delivery:
    """One notification as an HTTP request, and the payload its signature covers."""

    method: str  # "GET" | "POST"
    url: str
    body: bytes | None
    payload: bytes
    headers: dict[str, str]


def delivery(item: Outgoing) -> Delivery:
    """The request that sends ``item`` the way its account asked for."""
    if item.method == "post":
        body = notification_body(item)
        return Delivery("POST", item.url, body, body, {"Content-Type": "application/json"})
    url = notification_url(item.url, item)
    # The client sends exactly this query in the request line (see WebhookClient).
    return Delivery("GET", url, None, urlsplit(url).query.encode(), {})


class NotificationSender:
    """Claims ready notifications and sends them from a pool of threads."""

    def __init__(
        self,
        store: Store,
        settings: NotificationSettings,
        clock: Callable[[], float] = time.time,
        client: WebhookClient | None = None,
        rng: random.Random | None = None,
        resolve: Resolver | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.client = client or WebhookClient(settings.timeout, USER_AGENT)
        self.resolve = resolve  # host name lookups of customer URLs (None: the system's)
        self._pool = ThreadPoolExecutor(settings.senders, thread_name_prefix="notify")
        self._in_flight = 0
        self._lock = threading.Lock()
        self._rng = rng or random.Random()
        self.on_settled: Callable[[], None] = lambda: None

    def run_ready(self) -> float | None:
        """Claim what is ready (up to the free senders), start sending, return next due."""
        with self._lock:
            free = self.settings.senders * 2 - self._in_flight
        if free > 0:
            now = self.clock()
            lease = self.settings.timeout + 10.0
            limit = min(free, self.settings.batch)
            items = self.store.run(lambda tx: outbox.claim_ready(tx.conn, now, limit, lease))
            for item in items:
                with self._lock:
                    self._in_flight += 1
                self._pool.submit(self._deliver_and_settle, item)
        return self.store.read(lambda tx: outbox.next_ready(tx.conn))

    def _deliver_and_settle(self, item: Outgoing) -> None:
        try:
            result = self.send(item)
            self._record(item, result)
        except Exception:
            log.exception("notification %s: could not record the attempt", item.id)
        finally:
            with self._lock:
                self._in_flight -= 1
            self.on_settled()

    def send(self, item: Outgoing) -> AttemptResult:
        """One HTTP attempt; never raises."""
        if item.method is None:  # built without the account's settings: read them
            try:
                bare = item
                item = self.store.read(lambda tx: outbox.account_delivery(tx.conn, bare))
            except Exception as exc:
                error = f"account settings not read: {exc}"
                return AttemptResult(self.clock(), redact(item.url), None, 0.0, False, error=error)
        request = delivery(item)
        url = redact(request.url)  # what is recorded (an account URL never has credentials)
        address = None
        if item.customer_url:
            try:
                address = check_send_target(
                    request.url, self.settings.allow_private_targets, self.resolve
                )
            except UrlRefused as exc:
                error = f"target refused: {exc}"
                return AttemptResult(self.clock(), url, None, 0.0, False, error=error)
        now = self.clock()
        ts = int(now)
        msg_id = f"msg_{item.call_id}_{item.seq}"
        headers = {
            **request.headers,
            "webhook-id": msg_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": " ".join(
                sign(secret, msg_id, ts, request.payload) for secret in self.secrets(item, now)
            ),
        }
        sent = header_lines(self.client.headers_sent(headers).items())
        started = self.clock()
        t0 = time.perf_counter()
        try:
            response = self.client.request(
                request.method, request.url, headers, request.body, address=address
            )
        except WebhookError as exc:
            latency = (time.perf_counter() - t0) * 1000
            return AttemptResult(
                started, url, None, latency, False, error=str(exc), request_headers=sent
            )
        latency = (time.perf_counter() - t0) * 1000
        in_time = latency <= self.settings.timeout * 1000
        ok = 200 <= response.status < 300 and in_time
        error = ""
        if not 200 <= response.status < 300:
            error = f"HTTP {response.status}"
        elif not in_time:
            error = f"answered after the {self.settings.timeout:g} s timeout"
        return AttemptResult(
            started,
            url,
            response.status,
            latency,
            ok,
            error,
            response.text[:500],
            request_headers=sent,
            response_headers=header_lines(response.headers),
        )

    def secrets(self, item: Outgoing, now: float) -> list[str]:
        """The secrets to sign with at ``now``: the account's, and the one it replaced
        while the rotation is less than ``secret_overlap`` seconds old."""
        if (
            item.previous_secret
            and item.rotated_at is not None
            and now < item.rotated_at + self.settings.secret_overlap
        ):
            return [item.secret, item.previous_secret]
        return [item.secret]

    def next_attempt_at(self, tries_done: int, now: float) -> float | None:
        """When to try again after ``tries_done`` failed attempts (None: give up)."""
        schedule = self.settings.schedule
        if tries_done >= len(schedule):
            return None
        delay = schedule[tries_done]
        jitter = self.settings.jitter
        return now + delay * (1 + self._rng.uniform(-jitter, jitter))

    def _record(self, item: Outgoing, result: AttemptResult) -> None:
        nxt = None if result.ok else self.next_attempt_at(item.tries + 1, self.clock())
        _count_and_log(item, result, nxt)
        for pause in (0.5, 1, 2, 4, 8, 15, 30, 30, 30, 30):
            try:
                # Concurrent senders' records share a transaction (group commit).
                self.store.run(
                    lambda tx: outbox.record_attempt(
                        tx.conn,
                        item,
                        result,
                        next_attempt_at=nxt,
                        failing_after=self.settings.failing_after,
                    ),
                    key=item.call_id,
                )
                return
            except StoreUnavailable:
                # The lease keeps others off this row; if it runs out first the
                # notification is sent again (at least once, never lost).
                time.sleep(pause)
        log.error("notification %s: attempt not recorded; it will be retried", item.id)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.client.close()


def attempt_result(result: AttemptResult) -> str:
    """The ``result`` label of an attempt: delivered, timeout or failed."""
    if result.ok:
        return "delivered"
    kind = result.error.partition(":")[0]
    if "Timeout" in kind or result.error.startswith("answered after"):
        return "timeout"
    return "failed"


def _count_and_log(item: Outgoing, result: AttemptResult, next_at: float | None) -> None:
    """Count the attempt; a failed one is one log line with its status or error and
    when it is tried again."""
    label = attempt_result(result)
    lag = result.started_at + result.latency_ms / 1000 - item.event_time if result.ok else None
    metrics.notification_attempt(label, lag)
    if result.ok:
        return
    why = result.error or (f"HTTP {result.status}" if result.status is not None else "no answer")
    if result.status is not None and not result.error.startswith("HTTP"):
        why = f"HTTP {result.status}: {why}"
    when = (
        "next attempt at "
        + time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(next_at))
        + f" (in {max(0.0, next_at - result.started_at):.0f} s)"
        if next_at is not None
        else "no attempts left: given up"
    )
    log.warning(
        "notification %s (call %s, code %s) attempt %d to %s failed: %s; %s",
        item.id,
        item.call_id,
        item.code,
        item.tries + 1,
        result.url,
        why,
        when,
    )
