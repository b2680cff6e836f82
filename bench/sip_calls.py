"""Complete SIP calls per second: callbridge against SIPp phones, and SIPp against SIPp.

Measured: a ``Service`` (SQLite, every worker running, the SIP carrier over UDP on
127.0.0.1) originating calls registered with the call service (duration 1 s) at a fixed
offered rate, by eight client threads, as the HTTP server's eight would (call *i* is
registered at ``i / rate`` seconds, whatever the calls before it are waiting for; one
client alone offers at most one call per commit). Each call is RFC 3725 flow IV (INVITE
the caller with a hold offer, INVITE the callee without SDP, re-INVITE the caller with
the callee's offer, ACK the callee with the answer), is cut at its duration (code 13,
BYE to both legs), and its status notifications go to a callback receiver in another
process. The receiver answers each request in one write: ``http.server``'s default, one
write for the head and one for the body, leaves the body waiting for the client's
delayed ACK, 40 ms per notification, which held any code to 16 senders / 44 ms = ~360
notifications/s. A call counts once the engine reached code 13 *and* both SIPp phones
finished their scenarios.

Ceiling: a SIPp UAC playing the same controller, message for message (both legs from
one process and one socket, ``setdest`` between them, 1 s between bridge and BYEs),
against the same SIPp UAS phones, on the same machine, in the same run.

    python -m bench.sip_calls [--rate 150] [--seconds 10] [--ceiling-rate 1500] [--rounds 1]

Prints calls/s of both and their ratio. Rate = successful calls / (last completion - first
call started - hold time), the same formula for both. Needs /usr/bin/sipp.

callbridge's calls are counted twice: once **cut** (code 13 reached, both phones done:
the definition of earlier rounds) and once **told** (also all four of the call's status
notifications, 0, 1, 2 and 13, delivered to the receiver: the customer has been told
everything). The told figure is the one that counts: a notifier that falls behind
makes the cut figure look better while the customers wait (commit 7a00540 had
delivered 1,233 to 2,025 of the 6,000 notifications by the time its last call was cut;
docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from engine.bootstrap import Service
from engine.config import CarrierSettings, Settings
from engine.domain.codes import StatusCode
from engine.domain.phone import parse_number
from engine.service.calls import CallRequest
from engine.store.accounts import create_account
from engine.store.migrate import upgrade
from engine.store.schema import call, notification
from tests.sip.phones import HOST, SIPP, free_port, owned_sockets, render

SUBMITTERS = 8  # client threads registering the offered calls
HOLD = 1.0  # seconds between the bridge and the BYEs (the calls' duration)
CALLER, CALLEE = "5321000001", "5332000001"

RECEIVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 65536  # the answer in one write (see the module's docstring)
    def do_GET(self):
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""

# The controller's side of flow IV as a SIPp UAC: leg A (the caller) has Call-ID
# [call_id]; leg B (the callee) has b///[call_id], which SIPp files under the same call.
_VIA = "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]"
_A_FROM = "From: <sip:bench@[local_ip]>;tag=a[pid]x[call_number]"
_B_FROM = "From: <sip:bench@[local_ip]>;tag=b[pid]x[call_number]"
_CONTACT = "Contact: <sip:bench@[local_ip]:[local_port]>"
_A_URI = f"sip:caller@{HOST}:@@CALLER_PORT@@"
_B_URI = f"sip:callee@{HOST}:@@CALLEE_PORT@@"


def _sdp(connection: str, port: int) -> str:
    return (
        "v=0\no=bench 1 1 IN IP4 [local_ip]\ns=-\n"
        f"c=IN IP4 {connection}\nt=0 0\nm=audio {port} RTP/AVP 0\na=rtpmap:0 PCMU/8000"
    )


def _send(lines: list[str], body: str = "", retrans: bool = True) -> str:
    headers = "\n".join([*lines, "Max-Forwards: 70"])
    if body:
        headers += "\nContent-Type: application/sdp\nContent-Length: [len]\n\n" + body
    else:
        headers += "\nContent-Length: 0\n"
    attribute = ' retrans="500"' if retrans else ""
    return f"  <send{attribute}>\n    <![CDATA[\n{headers}\n    ]]>\n  </send>\n"


def _dest(port: str) -> str:
    return f'  <nop><action><setdest host="{HOST}" port="{port}" protocol="udp"/></action></nop>\n'


def _to(var: str) -> str:
    return (
        f'  <recv response="200"><action><ereg regexp=".*" search_in="hdr" header="To:" '
        f'assign_to="{var}"/></action></recv>\n'
    )


UAC = (
    '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="flow_iv_uac">\n'
    + _send(
        [f"INVITE {_A_URI} SIP/2.0", _VIA, _A_FROM, f"To: <{_A_URI}>", "Call-ID: [call_id]",
         "CSeq: 1 INVITE", _CONTACT],
        _sdp("0.0.0.0", 9),
    )
    + '  <recv response="180" optional="true"/>\n'
    + _to("a_to")
    + _send(
        [f"ACK {_A_URI} SIP/2.0", _VIA, _A_FROM, "To: [$a_to]", "Call-ID: [call_id]",
         "CSeq: 1 ACK"],
        retrans=False,
    )
    + _dest("@@CALLEE_PORT@@")
    + _send(
        [f"INVITE {_B_URI} SIP/2.0", _VIA, _B_FROM, f"To: <{_B_URI}>",
         "Call-ID: b///[call_id]", "CSeq: 1 INVITE", _CONTACT],
    )
    + '  <recv response="180" optional="true"/>\n'
    + _to("b_to")
    + _dest("@@CALLER_PORT@@")
    + _send(
        [f"INVITE {_A_URI} SIP/2.0", _VIA, _A_FROM, "To: [$a_to]", "Call-ID: [call_id]",
         "CSeq: 2 INVITE", _CONTACT],
        _sdp("127.0.0.1", 9000),
    )
    + '  <recv response="200"/>\n'
    + _send(
        [f"ACK {_A_URI} SIP/2.0", _VIA, _A_FROM, "To: [$a_to]", "Call-ID: [call_id]",
         "CSeq: 2 ACK"],
        retrans=False,
    )
    + _dest("@@CALLEE_PORT@@")
    + _send(
        [f"ACK {_B_URI} SIP/2.0", _VIA, _B_FROM, "To: [$b_to]", "Call-ID: b///[call_id]",
         "CSeq: 1 ACK"],
        _sdp("127.0.0.1", 7080),
        retrans=False,
    )
    + f'  <pause milliseconds="{int(HOLD * 1000)}"/>\n'
    + _send(
        [f"BYE {_B_URI} SIP/2.0", _VIA, _B_FROM, "To: [$b_to]", "Call-ID: b///[call_id]",
         "CSeq: 2 BYE"],
    )
    + '  <recv response="200"/>\n'
    + _dest("@@CALLER_PORT@@")
    + _send(
        [f"BYE {_A_URI} SIP/2.0", _VIA, _A_FROM, "To: [$a_to]", "Call-ID: [call_id]",
         "CSeq: 3 BYE"],
    )
    + '  <recv response="200" crlf="true"/>\n</scenario>\n'
)  # fmt: skip


def successful_calls(stats: Path) -> int:
    """Cumulative successful calls in the last row of a SIPp statistics file."""
    rows = stats.read_text().splitlines() if stats.exists() else []
    if len(rows) < 2:
        return 0
    header, last = rows[0].split(";"), rows[-1].split(";")
    return int(last[header.index("SuccessfulCall(C)")])


@dataclass
class Sipp:
    """A SIPp process with its statistics file (-trace_stat, one row a second)."""

    name: str
    process: subprocess.Popen[bytes]
    stats: Path
    port: int

    def successful(self) -> int:
        return successful_calls(self.stats)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_sipp(workdir: Path, name: str, scenario: str, extra: list[str]) -> Sipp:
    """A SIPp on a free UDP port; tries another port when one is lost to another process."""
    path = workdir / f"{name}.xml"
    path.write_text(scenario)
    for _ in range(8):
        port = free_port()
        stats = workdir / f"{name}_{port}.csv"
        command = [
            SIPP, "-sf", str(path), "-i", HOST, "-ci", HOST, "-p", str(port), "-nostdin",
            "-t", "u1", "-default_behaviors", "all,-abortunexp", "-trace_stat", "-stf",
            str(stats), "-fd", "1", "-max_recv_loops", "10000", "-max_sched_loops", "10000",
            *extra,
        ]  # fmt: skip
        log = (workdir / f"{name}.log").open("wb")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process.poll() is None:
            if any(p == port for proto, p, _ in owned_sockets(process.pid) if proto == "udp"):
                time.sleep(0.2)  # its media sockets come right after
                if process.poll() is None:
                    return Sipp(name, process, stats, port)
            time.sleep(0.01)
        if process.poll() is None:
            process.kill()
        process.wait()
    raise RuntimeError(f"SIPp {name} did not start: {(workdir / f'{name}.log').read_text()}")


def uas_phones(workdir: Path) -> tuple[Sipp, Sipp]:
    """The caller's and the callee's phones of a bridged call (the test suite's scenarios)."""
    zero = ["-set", "ring_ms", "0", "-set", "hold_ms", "0"]
    caller = start_sipp(
        workdir, "caller", render("caller_bridge.xml", RING="part:ring", END="part:recv_bye"), zero
    )
    callee = start_sipp(
        workdir,
        "callee",
        render("callee_offer.xml", RING="part:ring", MEDIA_PORT="9000", END="part:recv_bye"),
        zero,
    )
    return caller, callee


def wait_for(phones: tuple[Sipp, ...], calls: int, timeout: float) -> float:
    """Wait until every phone counted ``calls`` successes; returns when that happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(p.successful() >= calls for p in phones):
            return time.monotonic()
        time.sleep(0.1)
    return time.monotonic()


def sipp_ceiling(rate: int, seconds: float) -> tuple[float, int, int]:
    """SIPp UAC → SIPp UAS phones: successful calls per second (and done, offered)."""
    workdir = Path(tempfile.mkdtemp(prefix="cb-sipp-"))
    caller, callee = uas_phones(workdir)
    offered = int(rate * seconds)
    scenario = UAC.replace("@@CALLER_PORT@@", str(caller.port)).replace(
        "@@CALLEE_PORT@@", str(callee.port)
    )
    try:
        start = time.monotonic()
        uac = start_sipp(
            workdir,
            "uac",
            scenario,
            ["-r", str(rate), "-m", str(offered), "-l", str(rate * 20), f"{HOST}:{caller.port}"],
        )
        try:
            uac.process.wait(timeout=seconds * 6 + 60)
        except subprocess.TimeoutExpired:
            uac.stop()
        end = time.monotonic()
        wait_for((caller, callee), offered, 3)
        done = min(caller.successful(), callee.successful(), uac.successful())
    finally:
        caller.stop()
        callee.stop()
    return done / max(end - start - HOLD, 1e-9), done, offered


NOTIFICATIONS = 4  # 0, 1, 2, 13 per call


@dataclass
class Run:
    """callbridge's figures: calls/s cut (13 reached, both phones done) and told (also
    all of the call's notifications delivered)."""

    cut: float
    told: float
    done: int
    delivered: int
    offered: int
    states: dict[int, int]


def wait_told(engine: Service, calls: int, timeout: float) -> None:
    """Wait until ``calls`` calls' notifications are all delivered."""
    deadline = time.monotonic() + timeout
    with engine.db.connect() as conn:
        while time.monotonic() < deadline:
            delivered = conn.execute(
                select(func.count()).where(notification.c.state == "delivered")
            ).scalar_one()
            if delivered >= calls * NOTIFICATIONS:
                return
            conn.rollback()
            time.sleep(0.1)


def callbridge(rate: int, seconds: float) -> Run:
    """callbridge → SIPp UAS phones: calls per second that reached 13 with both BYEs done,
    and with their notifications delivered."""
    workdir = Path(tempfile.mkdtemp(prefix="cb-sip-"))
    caller, callee = uas_phones(workdir)
    receiver_port = free_port()
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(receiver_port)])
    url = f"sqlite:///{workdir}/bench.db"
    upgrade(url)

    def route(port: int) -> str:
        return f"sip:{{e164}}@{HOST}:{port};transport=udp"

    settings = Settings(
        database_url=url,
        carrier=CarrierSettings.model_validate(
            {
                "driver": "sip",
                "sip": {
                    "bind_host": HOST,
                    "bind_port": 0,
                    "trunk_uri": route(9),
                    "routes": [
                        {"prefix": "+90" + CALLER, "template": route(caller.port)},
                        {"prefix": "+90" + CALLEE, "template": route(callee.port)},
                    ],
                },
            }
        ),
    )
    engine = Service(settings)
    account_id, _ = create_account(
        engine.db, f"bench{uuid.uuid4().hex[:6]}", "benchmark!", f"http://{HOST}:{receiver_port}/"
    )
    engine.start()
    offered = int(rate * seconds)
    a, b = parse_number(CALLER, "TR"), parse_number(CALLEE, "TR")
    states: dict[int, int] = {}
    try:
        start = time.time()

        def register(i: int) -> None:
            delay = start + i / rate - time.time()
            if delay > 0:
                time.sleep(delay)
            engine.register_call(CallRequest(account_id, a, b, duration=1, lang="en", request={}))

        with ThreadPoolExecutor(SUBMITTERS, thread_name_prefix="bench-client") as clients:
            for _ in clients.map(register, range(offered)):
                pass
        late = time.time() - start - seconds
        wait_for((caller, callee), offered, seconds * 4 + 30)
        wait_told(engine, offered, seconds * 4 + 30)
        with engine.db.connect() as conn:
            rows = conn.execute(select(call.c.state, func.count()).group_by(call.c.state))
            states = {int(state): int(count) for state, count in rows}
            end = conn.execute(select(func.max(call.c.ended_at))).scalar() or time.time()
            delivered = notification.c.state == "delivered"
            told_end = conn.execute(
                select(func.max(notification.c.delivered_at)).where(delivered)
            ).scalar()
            per_call = (
                select(notification.c.call_id)
                .where(delivered)
                .group_by(notification.c.call_id)
                .having(func.count() >= NOTIFICATIONS)
                .subquery()
            )
            told = conn.execute(select(func.count()).select_from(per_call)).scalar_one()
            sent = conn.execute(select(func.count()).where(delivered)).scalar_one()
        done = min(
            caller.successful(), callee.successful(), states.get(int(StatusCode.OUT_OF_CREDITS), 0)
        )
        if late > 1:
            print(f"  (registration fell {late:.1f} s behind the offered rate)")
    finally:
        engine.stop()
        engine.db.dispose()
        caller.stop()
        callee.stop()
        receiver.terminate()
        receiver.wait(timeout=5)
    cut = done / max(end - start - HOLD, 1e-9)
    told_rate = min(told, done) / max((told_end or end) - start - HOLD, 1e-9)
    return Run(cut, told_rate, done, sent, offered, states)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=150, help="calls/s offered to callbridge")
    parser.add_argument("--seconds", type=float, default=10.0, help="window of offered calls")
    parser.add_argument("--ceiling-rate", type=int, default=1500, help="calls/s SIPp offers")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    if not os.path.exists(SIPP):
        sys.exit(f"{SIPP} is required")
    ours, ceilings = [], []
    cuts = []
    for _ in range(args.rounds):  # interleaved, so both see the same machine load
        run = callbridge(args.rate, args.seconds)
        ours.append(run.told)
        cuts.append(run.cut)
        print(
            f"callbridge: {run.told:7.1f} calls/s told, {run.cut:7.1f} cut ({run.done}/"
            f"{run.offered} complete, {run.delivered} notifications delivered, offered "
            f"{args.rate}/s for {args.seconds:.0f} s; states {run.states})"
        )
        cps, done, offered = sipp_ceiling(args.ceiling_rate, args.seconds)
        ceilings.append(cps)
        print(f"SIPp→SIPp:  {cps:7.1f} calls/s ({done}/{offered} complete)")
    mine, ceiling = statistics.median(ours), statistics.median(ceilings)
    print(
        f"callbridge {mine:.1f} calls/s told ({statistics.median(cuts):.1f} cut), SIPp "
        f"ceiling {ceiling:.1f} calls/s, ratio {mine / ceiling:.3f} (target: >= 100 calls/s "
        f"on {os.cpu_count()} cores)"
    )


if __name__ == "__main__":
    main()
