"""Prometheus metrics of the engine (``prometheus_client``).

The engine counts through the small functions below; the web layer exposes them at
``GET /metrics`` (or on a port of their own, ``[metrics] port``). With ``[metrics]
enabled = false`` every function returns at once and nothing is exposed.

Several processes (gunicorn's web workers, ``callbridge worker``'s children) sharing one
database also share their metrics when ``PROMETHEUS_MULTIPROC_DIR`` names a directory
that all of them can write, set before they start: each process writes its values to
files there and :func:`registry` adds them up at scrape time. The directory must be
emptied before the service starts (stale files of dead processes would be added in).

The notification backlog is not counted by any process: it is read from the database
when scraped (:func:`set_backlog_reader`), so every process shows the same number.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

_enabled = True

CALLS_REGISTERED = Counter(
    "callbridge_calls_registered_total", "Call requests accepted, by account id.", ["account"]
)
CALLS_ENDED = Counter(
    "callbridge_calls_ended_total",
    "Call attempts ended, by account id and final status code (3-13).",
    ["account", "code"],
)
TIMER_LATENESS = Histogram(
    "callbridge_timer_lateness_seconds",
    "How long after its due time a timer was taken (cut = the end of the talk).",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
NOTIFICATION_ATTEMPTS = Counter(
    "callbridge_notifications_attempts_total",
    "Notification delivery attempts, by result (delivered, failed, timeout).",
    ["result"],
)
NOTIFICATION_LAG = Histogram(
    "callbridge_notifications_lag_seconds",
    "From the event a notification reports to its delivery.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0),
)
CARRIER_EVENTS = Counter(
    "callbridge_carrier_events_total",
    "Events reported by the carrier, by carrier and kind.",
    ["carrier", "kind"],
)
SIP_TRANSACTIONS = Counter(
    "callbridge_sip_transactions_total",
    "SIP transactions started, by side (client: requests we sent) and method.",
    ["side", "method"],
)
SIP_RETRANSMISSIONS = Counter(
    "callbridge_sip_retransmissions_total",
    "SIP messages sent again (a request not yet answered, or a response repeated), "
    "by side and the transaction's method.",
    ["side", "method"],
)
STORE_UNAVAILABLE = Counter(
    "callbridge_store_unavailable_total",
    "Times the database could not be reached (locked, busy, disconnected, down).",
)
REQUEST_LATENCY = Histogram(
    "callbridge_http_request_duration_seconds",
    "HTTP request latency, by endpoint (the route) and method.",
    ["endpoint", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


def enable(on: bool) -> None:
    """Switch counting on or off for this process (``[metrics] enabled``)."""
    global _enabled
    _enabled = on


def enabled() -> bool:
    return _enabled


def call_registered(account_id: int) -> None:
    if _enabled:
        CALLS_REGISTERED.labels(str(account_id)).inc()


def call_ended(account_id: int, code: int) -> None:
    if _enabled:
        CALLS_ENDED.labels(str(account_id), str(code)).inc()


def timer_late(kind: str, seconds: float) -> None:
    if _enabled:
        TIMER_LATENESS.labels(kind).observe(max(0.0, seconds))


def notification_attempt(result: str, lag: float | None = None) -> None:
    """``result``: delivered, failed or timeout; ``lag``: event to delivery, seconds."""
    if _enabled:
        NOTIFICATION_ATTEMPTS.labels(result).inc()
        if lag is not None:
            NOTIFICATION_LAG.observe(max(0.0, lag))


def carrier_event(carrier: str, kind: str) -> None:
    if _enabled:
        CARRIER_EVENTS.labels(carrier, kind).inc()


def sip_transaction(what: str, side: str, method: str) -> None:
    """The SIP stack's observer: ``what`` is "transaction" or "retransmission"."""
    if _enabled:
        counter = SIP_TRANSACTIONS if what == "transaction" else SIP_RETRANSMISSIONS
        counter.labels(side, method).inc()


def store_unavailable() -> None:
    if _enabled:
        STORE_UNAVAILABLE.inc()


def request_done(endpoint: str, method: str, seconds: float) -> None:
    if _enabled:
        REQUEST_LATENCY.labels(endpoint, method).observe(seconds)


# -- the backlog, read at scrape time -------------------------------------------------

_backlog_lock = threading.Lock()
_backlog_reader: Callable[[], int] | None = None


def set_backlog_reader(reader: Callable[[], int] | None) -> None:
    """Name the function that counts unsettled notifications (None: not shown)."""
    global _backlog_reader
    with _backlog_lock:
        _backlog_reader = reader


class _Backlog(Collector):
    def collect(self) -> Iterator[Metric]:
        with _backlog_lock:
            reader = _backlog_reader
        if reader is None:
            return
        try:
            value = reader()
        except Exception:  # the store is away: the gauge is absent from this scrape
            return
        yield GaugeMetricFamily(
            "callbridge_notifications_backlog",
            "Notifications not yet delivered nor given up (pending or queued).",
            value=value,
        )


_BACKLOG = _Backlog()
REGISTRY.register(_BACKLOG)


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def registry() -> CollectorRegistry:
    """What a scrape shows: this process's metrics, or every process's in multiprocess mode."""
    if not multiprocess():
        return REGISTRY
    from prometheus_client import multiprocess as mp

    combined = CollectorRegistry()
    mp.MultiProcessCollector(combined)
    combined.register(_BACKLOG)
    return combined


def exposition() -> bytes:
    """The text a scrape gets."""
    return generate_latest(registry())


def mark_process_dead(pid: int) -> None:
    """Forget a process's live gauges in multiprocess mode (gunicorn's ``child_exit``)."""
    if multiprocess():
        from prometheus_client import multiprocess as mp

        mp.mark_process_dead(pid)
