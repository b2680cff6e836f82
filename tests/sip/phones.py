"""Test helpers for the SIP carrier: SIPp phones, scenario rendering, an event log."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from engine.carriers.base import DialRequest
from engine.domain.events import Leg, LegEvent, LegEventKind

SIPP = "/usr/bin/sipp"
SCENARIOS = Path(__file__).parent / "scenarios"
HOST = "127.0.0.1"
CALLER_NUMBER = "+905321110001"
CALLEE_NUMBER = "+905332220002"


def sipp_missing() -> bool:
    return not Path(SIPP).exists()


def require_sipp() -> None:
    """Skip when SIPp is missing — except in CI, where that is a failure."""
    if sipp_missing():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{SIPP} is required in CI")
        pytest.skip(f"{SIPP} is not installed")


def free_port() -> int:
    """A port that was free for both UDP and TCP on 127.0.0.1 a moment ago.

    Only a hint: another process may take it before it is used. ``Phone.start`` checks
    that its SIPp really owns the port and starts over on another one when it does not.
    """
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((HOST, 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((HOST, port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


@contextlib.contextmanager
def refusing_port() -> Iterator[int]:
    """A port on 127.0.0.1 held by this process where nobody listens, for as long as needed.

    TCP: a bound socket that never listens answers a SYN with RST. UDP: a socket connected
    elsewhere does not take datagrams from anyone else, so the kernel answers them with
    ICMP port unreachable. Unlike a port found free and released, nobody can take it.
    """
    for _ in range(50):
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            tcp.bind((HOST, 0))
            port = tcp.getsockname()[1]
            udp.bind((HOST, port))
            udp.connect((HOST, 9))
        except OSError:
            tcp.close()
            udp.close()
            continue
        try:
            yield port
        finally:
            tcp.close()
            udp.close()
        return
    raise RuntimeError("no free port")


def owned_sockets(pid: int) -> list[tuple[str, int, str]]:
    """The (protocol, local port, state) of every IPv4 socket process ``pid`` holds."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    except OSError:
        return []
    found = []
    for proto in ("udp", "tcp"):
        try:
            table = Path(f"/proc/{pid}/net/{proto}").read_text()
        except OSError:
            return []
        for line in table.splitlines()[1:]:
            fields = line.split()
            if len(fields) > 9 and fields[9] in inodes:
                found.append((proto, int(fields[1].rsplit(":", 1)[1], 16), fields[3]))
    return found


def _sipp_ready(pid: int, port: int, transport: str) -> bool:
    """SIPp ``pid`` listens on ``port`` and has bound its two media sockets.

    SIPp binds its SIP socket first and its RTP sockets (6000 and up) after; a clash
    there makes it exit, so a phone only counts as started once both are done.
    """
    sockets = owned_sockets(pid)
    listening = any(
        proto == transport and p == port and (proto == "udp" or state == "0A")
        for proto, p, state in sockets
    )
    media = [p for proto, p, _ in sockets if proto == "udp" and p != port and 6000 <= p < 6300]
    return listening and len(media) >= 2


# A received message in SIPp's -trace_msg file: the time (local), then its start line.
_ARRIVAL = re.compile(
    r"^-{10,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\n"
    r"[^\n]*message received[^\n]*\n\s*([^\n]*)",
    re.MULTILINE,
)

DEFAULTS = {
    "BYE_REASON": 'Reason: SIP;cause=200;text="elsewhere"',
    "BEFORE_RING_MS": "0",
    "MEDIA_PORT": "7078",
    "OK": "part:ok_with_sdp",
    "END": "part:recv_bye",
    "RING": "",
    "BEFORE_REINVITE": "",
    "EXTRA_HEADER": "Server: sipp-phone",
    "ACK_MEDIA": "m=audio 7080 ",
    "OK_RETRANS": "100",
}


def render(name: str, **values: str) -> str:
    """A scenario with its @@KEY@@ placeholders filled; ``part:x`` inserts parts/x.xml."""
    text = (SCENARIOS / name).read_text()
    merged = {**DEFAULTS, **values}
    for _ in range(3):  # parts may hold placeholders of their own
        for key, value in merged.items():
            if value.startswith("part:"):
                value = (SCENARIOS / "parts" / f"{value[5:]}.xml").read_text()
            text = text.replace(f"@@{key}@@", value)
    leftover = re.findall(r"@@[A-Z_]+@@", text)
    assert not leftover, f"unfilled placeholders {leftover} in {name}"
    return text


@dataclass
class Phone:
    """One SIPp process answering one call."""

    name: str
    port: int  # 0: pick a free one when starting
    transport: str
    workdir: Path
    process: subprocess.Popen[bytes] | None = None
    returncode: int | None = None
    timeout: float = 25.0  # seconds SIPp may run before it gives up (a failure)
    options: tuple[str, ...] = ()  # more SIPp command-line options
    calls: int = 1  # SIPp exits once this many calls have ended

    @property
    def messages_file(self) -> Path:
        return self.workdir / f"{self.name}_messages.log"

    @property
    def errors_file(self) -> Path:
        return self.workdir / f"{self.name}_errors.log"

    def start(self, scenario_text: str, variables: dict[str, str]) -> Phone:
        """Run SIPp on a free port; tries other ports while another process wins one.

        ``port`` 0 (the default) picks one; a SIPp that cannot bind its SIP or media
        sockets exits at once, and the phone starts over on a fresh port.
        """
        path = self.workdir / f"{self.name}.xml"
        path.write_text(scenario_text)
        fixed = self.port != 0
        failures = []
        for _ in range(1 if fixed else 8):
            if not fixed:
                self.port = free_port()
            if self._launch(path, scenario_text, variables):
                return self
            failures.append(f"port {self.port}: {self.screen()[-500:]}")
            if "bind" not in self.screen().lower():
                break  # not a port lost to another process: a bad scenario
        raise RuntimeError(f"SIPp {self.name} did not start:\n" + "\n".join(failures))

    def _launch(self, path: Path, scenario_text: str, variables: dict[str, str]) -> bool:
        command = [
            SIPP,
            "-sf",
            str(path),
            "-i",
            HOST,
            "-ci",
            HOST,
            "-p",
            str(self.port),
            "-m",
            str(self.calls),
            "-nostdin",
            "-t",
            "t1" if self.transport == "tcp" else "u1",
            # a retransmission SIPp does not recognise (it only knows the last message)
            # must not abort the call; received_messages() folds retransmissions away
            "-default_behaviors",
            "all,-abortunexp",
            "-timeout",
            f"{self.timeout:g}s",
            "-timeout_error",
            "-trace_msg",
            "-trace_err",
            "-message_file",
            str(self.messages_file),
            "-error_file",
            str(self.errors_file),
            *self.options,
        ]
        defaults = {name: "0" for name in ("ring_ms", "hold_ms") if name in scenario_text}
        for key, value in {**defaults, **variables}.items():
            command += ["-set", key, value]
        with (self.workdir / f"{self.name}_screen.log").open("wb") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + 10
        while not _sipp_ready(self.process.pid, self.port, self.transport):
            if self.process.poll() is not None:
                return False  # lost a port to another process: try another
            if time.monotonic() > deadline:
                self.kill()
                return False
            time.sleep(0.01)
        return True

    def wait(self, timeout: float = 20) -> int:
        """SIPp's exit code: 0 when the scenario ran to its end."""
        assert self.process is not None
        try:
            self.returncode = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        return self.returncode

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)

    def screen(self) -> str:
        path = self.workdir / f"{self.name}_screen.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def received_messages(self, retransmissions: bool = False) -> list[str]:
        """The messages SIPp received, in order (from its -trace_msg file).

        A message byte-for-byte equal to one received before is a retransmission (over
        UDP, when a response or ACK was late under load); those are left out unless
        ``retransmissions`` is set, so tests do not depend on timing.
        """
        if not self.messages_file.exists():
            return []
        text = self.messages_file.read_text(errors="replace")
        messages: list[str] = []
        for block in re.split(r"^-{10,}[^\n]*\n", text, flags=re.MULTILINE):
            head, _, rest = block.partition("\n")
            if "message received" in head:
                message = rest.strip()
                if retransmissions or message not in messages:
                    messages.append(message)
        return messages

    def arrivals(self) -> list[tuple[float, str]]:
        """(Unix time, start line) of every message SIPp received, retransmissions too."""
        if not self.messages_file.exists():
            return []
        text = self.messages_file.read_text(errors="replace")
        found = []
        for stamp, body in _ARRIVAL.findall(text):
            at = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()  # local time
            found.append((at, body.strip()))
        return found

    def first_arrival(self, method: str) -> float:
        """When the first request ``method`` (or response code) arrived."""
        for at, line in self.arrivals():
            parts = line.split()
            if parts and (parts[1] if line.startswith("SIP/2.0") else parts[0]) == method:
                return at
        raise AssertionError(f"{self.name} received no {method}: {self.methods()}")

    def received(self) -> list[str]:
        """The start lines of the messages SIPp received, e.g. ``BYE sip:... SIP/2.0``."""
        return [m.splitlines()[0] for m in self.received_messages() if m]

    def methods(self) -> list[str]:
        """Methods of requests and codes of responses SIPp received, e.g. [INVITE, ACK]."""
        out = []
        for line in self.received():
            parts = line.split()
            out.append(parts[1] if line.startswith("SIP/2.0") else parts[0])
        return out

    def received_text(self) -> str:
        return self.messages_file.read_text(errors="replace") if self.messages_file.exists() else ""

    def diagnostics(self) -> str:
        errors = self.errors_file.read_text(errors="replace") if self.errors_file.exists() else ""
        return (
            f"--- {self.name} screen\n{self.screen()}\n--- errors\n{errors[-3000:]}\n"
            f"--- messages\n{self.received_text()[-6000:]}"
        )


@dataclass
class EventLog:
    """The carrier's sink: collects events and lets a test wait for them."""

    events: list[LegEvent] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def __call__(self, event: LegEvent) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def wait_for(self, leg: Leg, kind: LegEventKind, timeout: float = 15) -> LegEvent:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events:
                    if event.leg is leg and event.kind is kind:
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no {leg} {kind} event; got {self.summary()}")
                self._cond.wait(remaining)

    def summary(self) -> list[tuple[str, int]]:
        with self._cond:
            return [(e.trigger, e.cause) for e in self.events]


def dial_request(leg: Leg, call_id: int = 7, attempt: int = 1) -> DialRequest:
    number = CALLER_NUMBER if leg is Leg.CALLER else CALLEE_NUMBER
    return DialRequest(
        call_id=call_id,
        attempt=attempt,
        leg=leg,
        number=number,
        national=number[3:],
        caller_id=CALLER_NUMBER[1:],
    )


def sipp_ok(phone: Phone, timeout: float = 20) -> None:
    code = phone.wait(timeout)
    assert code == 0, phone.diagnostics()
