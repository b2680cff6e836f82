"""Replaying notifications given up, and callback endpoints that keep failing: through
the sender and a real receiver, on both stores."""

from __future__ import annotations

import time

from click.testing import CliRunner, Result
from sqlalchemy import select, update

from engine.service.replay import replay_notifications
from engine.store.schema import account, call
from tests.integration.conftest import Harness
from tests.support import Receiver
from web.cli import main


def cli(harness: Harness, *args: str) -> Result:
    url = harness.db.url.render_as_string(hide_password=False)
    env = {"CALLBRIDGE_DATABASE_URL": url, "CALLBRIDGE_CONFIG": None}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def states(harness: Harness, call_id: int) -> list[str]:
    return [n.state for n in harness.notifications(call_id)]


def marks(harness: Harness) -> tuple[float | None, float | None]:
    with harness.db.connect() as conn:
        row = conn.execute(
            select(account.c.callback_failing_since, account.c.callback_failing_at).where(
                account.c.id == harness.account_id
            )
        ).one()
    return row[0], row[1]


def replay(harness: Harness, since: float) -> int:
    return replay_notifications(harness.store, harness.account_id, since, harness.clock())


def test_given_up_notifications_are_replayed_in_order_per_call_since_a_time(
    harness: Harness, receiver: Receiver
) -> None:
    harness.sender.settings = harness.sender.settings.model_copy(update={"schedule": [0.0]})
    receiver.mode = "error"
    old = harness.bridge()
    harness.flush_notifications()
    harness.clock.advance(1000)
    since = harness.clock()
    first, second = harness.bridge(), harness.bridge()
    harness.flush_notifications()
    assert states(harness, old) == ["failed"] * 4  # 0, 1, 2, then 13 at its cut
    for call_id in (first, second):
        assert states(harness, call_id) == ["failed"] * 3
    receiver.mode = "ok"
    assert replay(harness, since) == 6
    assert states(harness, first) == ["pending", "queued", "queued"]
    harness.flush_notifications()
    assert receiver.codes(first) == [0, 1, 2]
    assert receiver.codes(second) == [0, 1, 2]
    assert receiver.codes(old) == []  # given up before `since`: left alone
    assert states(harness, old) == ["failed"] * 4
    assert states(harness, first) == ["delivered"] * 3
    assert replay(harness, since) == 0  # nothing left to replay


def test_an_endpoint_without_a_2xx_for_long_is_marked_failing_and_holds_new_ones(
    harness: Harness, receiver: Receiver
) -> None:
    harness.sender.settings = harness.sender.settings.model_copy(
        update={"schedule": [0.0, 50.0, 100.0], "failing_after": 120.0}
    )
    receiver.mode = "error"
    start = harness.clock()
    before = harness.register()
    harness.timers.run_due()
    harness.flush_notifications()
    assert marks(harness) == (start, None)  # first failure since the last 2xx
    harness.clock.advance(50)
    harness.flush_notifications()
    assert marks(harness)[1] is None  # 50 s < 120 s
    harness.clock.advance(100)
    harness.flush_notifications()  # the third attempt, 150 s after the first: marked
    since, marked = marks(harness)
    assert since == start and marked == harness.clock()
    assert states(harness, before) == ["failed"]
    held = harness.bridge()
    harness.flush_notifications()
    assert states(harness, held) == ["held", "held", "held"]
    hits = len(receiver.hits)
    harness.clock.advance(10_000)
    harness.flush_notifications()
    assert len(receiver.hits) == hits  # stored, not sent
    listed = cli(harness, "account", "list")
    assert "failing since" in listed.output, listed.output
    receiver.mode = "ok"
    replayed = cli(harness, "account", "replay", "acme", "--since", str(int(start)))
    # The 3 held, the first call's end (held too) and its code 0 given up.
    assert replayed.exit_code == 0 and "5 notifications" in replayed.output, replayed.output
    assert marks(harness) == (None, None)
    # The CLI queued them due at the wall clock's now, after the test's clock.
    harness.clock.advance(time.time() - harness.clock() + 1)
    harness.flush_notifications()
    assert receiver.codes(held) == [0, 1, 2]
    # The first call's code 0, given up, and its end (the watchdog's), held.
    assert receiver.codes(before)[0] == 0 and len(receiver.codes(before)) == 2
    assert "failing since" not in cli(harness, "account", "list").output


def test_a_2xx_clears_the_failing_clock(harness: Harness, receiver: Receiver) -> None:
    harness.sender.settings = harness.sender.settings.model_copy(update={"failing_after": 120.0})
    receiver.mode = "error"
    call_id = harness.register()
    harness.timers.run_due()
    harness.flush_notifications()
    assert marks(harness)[0] is not None
    receiver.mode = "ok"
    harness.clock.advance(5)
    harness.flush_notifications()
    assert states(harness, call_id) == ["delivered"]
    assert marks(harness) == (None, None)


def test_a_call_with_its_own_callback_url_is_not_held(harness: Harness, receiver: Receiver) -> None:
    with harness.db.begin() as conn:
        conn.execute(update(account).values(callback_failing_since=1.0, callback_failing_at=2.0))
    own = harness.register()
    with harness.db.begin() as conn:
        conn.execute(update(call).where(call.c.id == own).values(callback_url=receiver.url))
    other = harness.register()
    harness.timers.run_due()
    assert states(harness, own) == ["pending"]
    assert states(harness, other) == ["held"]
