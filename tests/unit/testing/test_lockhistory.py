"""The lock-history checker: hand-made good and bad histories, and histories of a simulated
correct lock service (hypothesis) that must pass -- and fail once a violation is injected."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pilothouse.controlplane import errors
from pilothouse.testing.lockhistory import Event, History, Op, Outcome, assert_valid, check

ACQ, REN, REL = Op.ACQUIRE, Op.RENEW, Op.RELEASE
OK, NO, UNK = Outcome.OK, Outcome.DENIED, Outcome.UNKNOWN


def ev(
    client: str,
    op: Op,
    start: float,
    end: float,
    outcome: Outcome,
    token: int | None,
    *,
    ref: str = "r",
    ttl: float = 0.0,
) -> Event:
    owner = f"{client}-{token}"
    if op is ACQ and outcome is OK and not ttl:
        ttl = 2.0
    return Event(client, op, ref, start, end, outcome, token, owner, ttl)


def kinds(events: list[Event]) -> list[str]:
    return sorted(v.kind for v in check(events))


# -- good histories --------------------------------------------------------------------------


def test_empty_and_simple_histories_are_valid() -> None:
    assert check([]) == []
    assert_valid(
        [
            ev("a", ACQ, 0.0, 0.1, OK, 1),
            ev("b", ACQ, 0.2, 0.3, NO, None),
            ev("a", REN, 1.0, 1.1, OK, 1),
            ev("a", REL, 2.0, 2.1, OK, 1),
            ev("b", ACQ, 2.2, 2.3, OK, 5),
        ]
    )


def test_a_grant_ends_when_its_lease_expires() -> None:
    # a's lease (ttl 2, acquire started at 0) may expire at 2: b's grant at 2.5 is fine.
    assert check([ev("a", ACQ, 0.0, 0.1, OK, 1), ev("b", ACQ, 2.4, 2.5, OK, 2)]) == []


def test_lease_bounds_count_from_the_start_of_the_call() -> None:
    # A renew answered late (0.9 s): the server may have applied it at 1.0, so the lease
    # may end at 3.0 although the client heard of it at 1.9. Counting from the answer
    # (1.9 + 2) would flag b's correct grant at 3.05.
    events = [
        ev("a", ACQ, 0.0, 0.1, OK, 1),
        ev("a", REN, 1.0, 1.9, OK, 1),
        ev("b", ACQ, 3.0, 3.05, OK, 2),
    ]
    assert check(events) == []


def test_a_grant_ends_when_its_release_starts() -> None:
    # The server deleted a's grant right after 5.0; b's grant is answered before a's release.
    events = [
        ev("a", ACQ, 0.0, 0.1, OK, 1, ttl=10),
        ev("a", REL, 5.0, 5.2, OK, 1),
        ev("b", ACQ, 5.0, 5.1, OK, 2),
    ]
    assert check(events) == []


def test_a_late_renew_may_find_the_grant_expired() -> None:
    # Answered at 2.5, after the lease may have expired at 2.0.
    assert check([ev("a", ACQ, 0.0, 0.1, OK, 1), ev("a", REN, 1.5, 2.5, NO, 1)]) == []


def test_a_renew_after_an_unknown_release_may_fail() -> None:
    events = [
        ev("a", ACQ, 0.0, 0.1, OK, 1, ttl=10),
        ev("a", REL, 0.5, 0.6, UNK, 1),
        ev("a", REN, 0.7, 0.8, NO, 1),
    ]
    assert check(events) == []


def test_an_acknowledgement_after_the_lease_bound_holds_nothing() -> None:
    # a's answer came after its lease may have run out: a never certainly held the ref.
    events = [ev("a", ACQ, 0.0, 2.5, OK, 1), ev("b", ACQ, 2.2, 2.3, OK, 2)]
    assert check(events) == []


def test_tokens_of_concurrent_grants_are_not_ordered() -> None:
    # b's grant was answered after a's acquire started: either may be linearized first.
    events = [
        ev("a", ACQ, 0.0, 0.5, OK, 3),
        ev("b", ACQ, 0.1, 0.2, OK, 7),
        ev("b", REL, 0.25, 0.3, OK, 7),
    ]
    assert check(events) == []


def test_a_repeated_token_is_a_reacknowledgement() -> None:
    events = [
        ev("a", ACQ, 0.0, 0.1, OK, 1),
        ev("a", ACQ, 0.5, 0.6, OK, 1),
        ev("b", ACQ, 2.1, 2.2, OK, 2),
    ]
    assert check(events) == []


def test_the_refs_are_independent() -> None:
    events = [ev("a", ACQ, 0.0, 0.1, OK, 1, ref="x"), ev("b", ACQ, 0.2, 0.3, OK, 2, ref="y")]
    assert check(events) == []


# -- bad histories ---------------------------------------------------------------------------


def test_two_holders_at_once() -> None:
    events = [ev("a", ACQ, 0.0, 0.1, OK, 1, ttl=10), ev("b", ACQ, 2.0, 2.1, OK, 2)]
    assert kinds(events) == ["overlap"]
    with pytest.raises(AssertionError, match="1 lock-history violations"):
        assert_valid(events)


def test_a_renewed_grant_is_still_held() -> None:
    events = [
        ev("a", ACQ, 0.0, 0.1, OK, 1),
        ev("a", REN, 1.5, 1.6, OK, 1),
        ev("b", ACQ, 3.0, 3.1, OK, 2),  # a holds it until 3.5
    ]
    assert kinds(events) == ["overlap"]


def test_tokens_must_grow_in_real_time_order() -> None:
    events = [
        ev("a", ACQ, 0.0, 0.1, OK, 5),
        ev("a", REL, 0.2, 0.3, OK, 5),
        ev("b", ACQ, 0.4, 0.5, OK, 4),
    ]
    assert kinds(events) == ["token-order"]


def test_a_token_is_granted_once() -> None:
    events = [
        ev("a", ACQ, 0.0, 0.1, OK, 3),
        ev("a", REL, 0.2, 0.3, OK, 3),
        ev("b", ACQ, 0.4, 0.5, OK, 3),
    ]
    assert "token-reuse" in kinds(events)


def test_a_lost_grant() -> None:
    events = [ev("a", ACQ, 0.0, 0.1, OK, 1, ttl=10), ev("a", REN, 2.0, 2.1, NO, 1)]
    assert kinds(events) == ["lost-grant"]
    # An unknown renew does not excuse it: a renew never ends a grant.
    events.insert(1, ev("a", REN, 1.0, 1.5, UNK, 1))
    assert kinds(events) == ["lost-grant"]


def test_a_released_grant_does_not_come_back() -> None:
    events = [
        ev("a", ACQ, 0.0, 0.1, OK, 1, ttl=10),
        ev("a", REL, 0.2, 0.3, OK, 1),
        ev("a", REN, 0.4, 0.5, OK, 1),
    ]
    assert kinds(events) == ["resurrected"]


def test_malformed_events() -> None:
    assert kinds([ev("a", ACQ, 1.0, 0.5, NO, None)]) == ["malformed"]
    assert kinds([Event("a", ACQ, "r", 0.0, 0.1, OK, None)]) == ["malformed"]


# -- the recorder ----------------------------------------------------------------------------


@dataclasses.dataclass
class _Lock:
    token: int


async def test_history_call_records_and_classifies() -> None:
    ticks = iter(range(100))
    history = History(clock=lambda: float(next(ticks)))

    async def grant() -> _Lock:
        return _Lock(7)

    async def held() -> _Lock:
        raise errors.LockHeld("r", "x", 3, 1)

    async def unavailable() -> bool:
        raise errors.Unavailable("no quorum")

    async def released() -> bool:
        await asyncio.sleep(0)
        return False

    assert await history.call("a", ACQ, "r", grant, owner="o", ttl=2) == _Lock(7)
    assert await history.call("a", ACQ, "r", held, owner="o2", ttl=2) is None
    assert await history.call("a", REL, "r", unavailable, token=7) is None
    assert await history.call("a", REL, "r", released, token=7) is False
    got = [(e.op, e.outcome, e.token, e.start, e.end) for e in history.events]
    assert got == [
        (ACQ, OK, 7, 0.0, 1.0),
        (ACQ, NO, None, 2.0, 3.0),
        (REL, UNK, 7, 4.0, 5.0),
        (REL, NO, 7, 6.0, 7.0),
    ]
    assert "LockHeld" in history.events[1].detail
    assert check(history.events) == []


# -- a simulated correct service -------------------------------------------------------------


@dataclasses.dataclass
class _Held:
    owner: str
    token: int
    expiry: int


def simulate(data: st.DataObject, clients: int, refs: int, ttl: int) -> list[Event]:
    """A correct lock service with leases, driven by ``clients`` sequential clients whose
    calls take random times (integer milliseconds) and sometimes lose their answer; the
    server applies each call at a random moment between its start and its end."""
    draw = data.draw
    table: dict[str, _Held] = {}
    tokens = iter(range(1, 10**6))
    events: list[Event] = []
    holding: dict[int, tuple[str, int, str]] = {}  # client -> (ref, token, owner)
    budget = {c: draw(st.integers(1, 12), label=f"calls of c{c}") for c in range(clients)}
    pending: dict[int, tuple[int, int]] = {}  # client -> (server time, start)

    def plan(c: int, after: int) -> None:
        if budget[c] == 0:
            return
        budget[c] -= 1
        start = after + draw(st.integers(0, ttl // 2) | st.integers(0, 3 * ttl))
        pending[c] = (start + draw(st.integers(0, ttl // 2)), start)

    for c in range(clients):
        plan(c, 0)
    owners = iter(range(10**6))
    while pending:
        c = min(pending, key=lambda k: pending[k])
        at, start = pending.pop(c)
        end = at + draw(st.integers(0, ttl // 2))
        lost = draw(st.integers(0, 5)) == 0  # the answer never arrives
        name = f"c{c}"
        cur = holding.get(c)
        if cur is None:
            ref = f"ref{draw(st.integers(0, refs - 1))}"
            owner = f"{name}-{next(owners)}"
            h = table.get(ref)
            if h is None or h.expiry <= at:
                table[ref] = h = _Held(owner, next(tokens), at + ttl)
                result = OK
            else:
                result = NO
            token = h.token if result is OK else None
            if lost:
                events.append(Event(name, ACQ, ref, start, end, UNK, None, owner, ttl))
            else:
                events.append(Event(name, ACQ, ref, start, end, result, token, owner, ttl))
                if result is OK and token is not None:
                    holding[c] = (ref, token, owner)
        else:
            ref, token, owner = cur
            op = REL if draw(st.booleans()) else REN
            h = table.get(ref)
            alive = h is not None and h.token == token and h.expiry > at
            if alive and h is not None:
                if op is REN:
                    h.expiry = at + ttl
                else:
                    del table[ref]
            outcome = UNK if lost else (OK if alive else NO)
            events.append(Event(name, op, ref, start, end, outcome, token, owner))
            if op is REL or outcome is NO or draw(st.integers(0, 6)) == 0:
                holding.pop(c)  # released, lost, or simply abandoned (left to expire)
        plan(c, end)
    return events


@settings(max_examples=150, deadline=None)
@given(st.data(), st.integers(1, 5), st.integers(1, 3), st.sampled_from([20, 100, 2000]))
def test_histories_of_a_correct_service_are_valid(
    data: st.DataObject, clients: int, refs: int, ttl: int
) -> None:
    events = simulate(data, clients, refs, ttl)
    assert check(events) == []


@settings(max_examples=100, deadline=None)
@given(st.data(), st.integers(1, 4), st.sampled_from([20, 2000]))
def test_an_injected_second_holder_is_found(data: st.DataObject, clients: int, ttl: int) -> None:
    events = simulate(data, clients, 1, ttl)
    grants = [e for e in events if e.op is ACQ and e.outcome is OK]

    # A grant certainly held for a while: its acquire was answered well within its TTL.
    def held_until(g: Event) -> float:
        releases = [e.start for e in events if e.op is REL and e.token == g.token]
        return min([g.start + ttl, *releases])

    usable = [g for g in grants if g.end + 2 < held_until(g)]
    if not usable:
        return
    g = data.draw(st.sampled_from(usable))
    ack = data.draw(st.integers(int(g.end) + 1, int(held_until(g)) - 1))
    intruder = Event("intruder", ACQ, g.ref, ack - 1, ack, OK, 10**7, "intruder", ttl)
    found = {v.kind for v in check([*events, intruder])}
    assert "overlap" in found
