"""Hands carrier events to the engine's sink, in order per call, without losing any.

Every carrier driver reports what its network said through one ``EventDispatcher``:

* **Order per call, concurrency across calls.** Events go to ``workers`` threads, each
  with a queue of its own; a call always maps to the same worker (``call_id % workers``),
  so the events of one call reach the sink in the order they were submitted, while
  other calls' events are applied concurrently (and share commits).
* **Nothing dropped while the store is down.** When the sink raises
  :class:`~engine.errors.StoreUnavailable`, the worker keeps the event and tries it again
  after a pause that doubles from ``first_delay`` up to ``max_delay``, for as long as the
  dispatcher runs. Later events of the same call wait behind it; other workers carry on.
  A worker logs one warning when an outage begins and one info line when the event goes
  through.
* **Bugs do not stop the flow.** Any other exception from the sink is logged with the
  event and the event is dropped: retrying a bug would only block the call for ever.
* **Writes in the same order.** A carrier may also queue a write of its own (the SIP
  carrier's leg records): with an event (:meth:`EventDispatcher.submit`), the sink runs
  it in the event's transaction; alone (:meth:`EventDispatcher.submit_write`), in a
  transaction of its own. Either way it goes through the call's queue, so it is durable
  before the call's later events are applied, and it is retried the same way while the
  store is down.
* **Prompt stop.** ``stop()`` interrupts the pauses, lets a sink call in progress finish,
  abandons what is still queued and logs how many events were not applied.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from engine import metrics
from engine.carriers.base import EventSink, StoreWrite
from engine.domain.events import LegEvent
from engine.errors import StoreUnavailable

log = logging.getLogger("callbridge.carrier.dispatch")

FIRST_DELAY = 0.1  # seconds before the first retry of an event the store refused
MAX_DELAY = 5.0  # the pause between retries doubles up to this
STOP_TIMEOUT = 5.0  # how long stop() waits for sink calls in progress


@dataclass(frozen=True, slots=True)
class Write:
    """A carrier's own write, queued among the events of ``call_id``: ``unit`` runs in
    the transaction of the event it is queued with; ``alone`` runs it without one."""

    call_id: int
    unit: StoreWrite
    alone: Callable[[StoreWrite], object]
    what: str

    def __str__(self) -> str:
        return f"{self.what} of call {self.call_id}"


@dataclass(frozen=True, slots=True)
class _WithWrite:
    event: LegEvent
    write: Write

    @property
    def call_id(self) -> int:
        return self.event.call_id

    def __str__(self) -> str:
        return f"{self.event} with the {self.write}"


Item = LegEvent | Write | _WithWrite


class EventDispatcher:
    """Delivers leg events to a sink from ``workers`` threads; see the module docstring."""

    def __init__(
        self,
        workers: int = 8,
        *,
        name: str = "carrier",
        first_delay: float = FIRST_DELAY,
        max_delay: float = MAX_DELAY,
    ) -> None:
        if workers < 1:
            raise ValueError("an event dispatcher needs at least one worker")
        self.workers = workers
        self.name = name
        self.first_delay = first_delay
        self.max_delay = max_delay
        self._sink: EventSink | None = None
        self._queues: list[queue.SimpleQueue[Item | None]] = []
        self._threads: list[threading.Thread] = []
        # Guards the fields below; workers pause on it between retries.
        self._cond = threading.Condition()
        self._running = False
        self._stopping = False
        self._abandoned = 0  # events workers were still retrying when stopped

    def start(self, sink: EventSink) -> None:
        """Start the workers; submitted events go to ``sink`` from now on."""
        with self._cond:
            if self._running:
                raise RuntimeError(f"the {self.name} event dispatcher is already running")
            self._sink = sink
            self._stopping = False
            self._abandoned = 0
            self._queues = [queue.SimpleQueue() for _ in range(self.workers)]
            self._threads = [
                threading.Thread(
                    target=self._work,
                    args=(events,),
                    name=f"{self.name}-events-{n}",
                    daemon=True,
                )
                for n, events in enumerate(self._queues)
            ]
            self._running = True
        for thread in self._threads:
            thread.start()

    def submit(self, event: LegEvent, write: Write | None = None) -> None:
        """Queue ``event`` behind the earlier events of its call; returns at once. With
        ``write``, the sink is given ``write.unit`` to apply in the event's transaction."""
        with self._cond:
            if not self._running:
                log.warning("%s events: not running, %s not applied", self.name, event)
                return
            item: Item = event if write is None else _WithWrite(event, write)
            self._queues[event.call_id % len(self._queues)].put(item)
        metrics.carrier_event(self.name, event.trigger)

    def submit_write(self, write: Write) -> None:
        """Queue ``write`` behind the earlier events of its call; returns at once."""
        with self._cond:
            if not self._running:
                log.warning("%s events: not running, %s not written", self.name, write)
                return
            self._queues[write.call_id % len(self._queues)].put(write)

    def stop(self) -> None:
        """Stop the workers; events not yet applied are abandoned (and counted in the log).

        A sink call in progress is allowed to finish (up to ``STOP_TIMEOUT`` seconds in
        all); a pause between retries ends at once.
        """
        with self._cond:
            if not self._running:
                return
            self._running = False
            self._stopping = True
            self._cond.notify_all()
            queues, threads = self._queues, self._threads
        for events in queues:
            events.put(None)  # wakes a worker waiting for its next event
        deadline = time.monotonic() + STOP_TIMEOUT
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        busy = [thread.name for thread in threads if thread.is_alive()]
        queued = 0
        for events in queues:
            while not events.empty():
                if events.get_nowait() is not None:
                    queued += 1
        with self._cond:
            pending = queued + self._abandoned
        if pending or busy:
            log.warning(
                "%s events: stopped with %d event(s) not applied%s",
                self.name,
                pending,
                f"; still in the sink: {', '.join(busy)}" if busy else "",
            )
        else:
            log.info("%s events: stopped, nothing pending", self.name)

    # -- the workers -----------------------------------------------------------------------
    def _work(self, events: queue.SimpleQueue[Item | None]) -> None:
        while (event := events.get()) is not None:  # None: stop() wakes us
            if self._is_stopping():
                events.put(event)  # left for stop() to count
                return
            self._apply(event)

    def _apply(self, event: Item) -> None:
        """Give ``event`` to the sink (run a write) until it is applied, fails for good,
        or we stop."""
        assert self._sink is not None
        delay = self.first_delay
        retries = 0
        while True:
            try:
                if isinstance(event, Write):
                    event.alone(event.unit)
                elif isinstance(event, _WithWrite):
                    sink: Callable[..., object] = self._sink
                    sink(event.event, event.write.unit)
                else:
                    self._sink(event)
            except StoreUnavailable as exc:
                if retries == 0:
                    log.warning(
                        "%s events: the store is unavailable (%s); retrying %s, "
                        "later events of call %s wait behind it",
                        self.name,
                        str(exc).partition("\n")[0],
                        event,
                        event.call_id,
                    )
                retries += 1
                if not self._pause(delay):
                    with self._cond:
                        self._abandoned += 1
                    return
                delay = min(delay * 2, self.max_delay)
                continue
            except Exception:
                log.exception("%s events: dropped %s: the sink failed", self.name, event)
                return
            if retries:
                log.info(
                    "%s events: the store is back; %s applied after %d retries",
                    self.name,
                    event,
                    retries,
                )
            return

    def _pause(self, delay: float) -> bool:
        """Wait ``delay`` seconds; False when the dispatcher is stopping meanwhile."""
        with self._cond:
            return not self._cond.wait_for(lambda: self._stopping, timeout=delay)

    def _is_stopping(self) -> bool:
        with self._cond:
            return self._stopping
