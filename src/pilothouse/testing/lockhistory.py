"""Recording lock-client histories and checking them, linearizability-style.

Chaos tests run lock clients against a cluster that is being broken, record every call
(:class:`History`: who, which operation, which ref, when it started and ended, and what it
answered), and then check the whole history (:func:`check`, :func:`assert_valid`) for
what a correct lock service guarantees:

* **Mutual exclusion.** No two grants of a ref are held at overlapping times.
* **Fencing.** Tokens are unique per ref, and a grant acknowledged before another grant
  was requested has the smaller token (grants concurrent with each other may be ordered
  either way: they are linearized somewhere between their start and their end).
* **No acknowledged grant is lost.** A renew by the holder that is answered while the
  grant is certainly held (see below) succeeds, unless the holder had already started
  releasing it (a release whose outcome is unknown may have applied). A renew *answered*
  later may legitimately find the grant expired: it may have reached the server after the
  lease ran out. (Releases are not judged by their answer: a client that retried a release
  whose first answer was lost gets ``released=False`` from its own earlier attempt.)
* **Nothing comes back.** After a release answered ``released=True``, no later renew or
  release of that grant succeeds.

When a grant is *certainly held*, judged only by what the client saw, and why the bounds
use the times calls **started**: the server applied a call at some moment between its start
and its end. A grant is held from its acknowledgement (the earliest moment the holder may act
on it) until the earlier of

* the start of its first release -- the server may have deleted the grant right after it,
  and another client's grant may be acknowledged before the release's own answer arrives;
* ``start + ttl`` of its latest successful acquire or renew -- the lease was (re)started by
  the server no earlier than that call's start, and lease expiry is never early (a new etcd
  leader only extends leases). Counting from the *acknowledgement* instead would be wrong:
  an answer delayed by ``d`` makes the client believe in ``d`` seconds the lease does not
  have, and a correct service may grant the ref to someone else in that gap. (A renew that
  succeeded also proves the grant existed without a break until the server applied it.)

A grant whose acknowledgement came after that bound was never certainly held (its interval
is empty). Every violation reported is therefore definite for a service whose clock runs
at the rate of the recorder's (same machine), never an artefact of timing.

Acquire must use a fresh owner for every attempt: acquire is idempotent per owner, so a
second acquire by the same owner may return an older grant whose lease did not start at the
second call's start. Such a repeated token is accepted as a re-acknowledgement that does not
extend the grant.
"""

from __future__ import annotations

import bisect
import dataclasses
import enum
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TypeVar

from pilothouse.controlplane import errors

T = TypeVar("T")


class Op(enum.StrEnum):
    ACQUIRE = "acquire"
    RENEW = "renew"
    RELEASE = "release"


class Outcome(enum.StrEnum):
    #: Acquire or renew answered with the grant (``token``); release answered released=True.
    OK = "ok"
    #: A definite "no": acquire found the ref held; renew found the grant gone or not
    #: current; release answered released=False (the grant was already gone).
    DENIED = "denied"
    #: An error after which the call may or may not have been applied (UNAVAILABLE, a
    #: timeout, anything unexpected).
    UNKNOWN = "unknown"


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """One call. ``token``: the grant acquired (acquire OK) or the grant the renew or
    release was about. ``ttl``: the acquire's TTL in seconds (renew and release keep the
    grant's). ``start``/``end`` are :func:`time.monotonic` readings (any one clock)."""

    client: str
    op: Op
    ref: str
    start: float
    end: float
    outcome: Outcome
    token: int | None = None
    owner: str = ""
    ttl: float = 0.0
    detail: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class Violation:
    #: "overlap", "token-order", "token-reuse", "lost-grant", "resurrected", "malformed"
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


class History:
    """An append-only list of :class:`Event` with helpers to time and classify calls."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.events: list[Event] = []
        self.clock = clock

    def record(self, event: Event) -> None:
        self.events.append(event)

    async def call(
        self,
        client: str,
        op: Op,
        ref: str,
        fn: Callable[[], Awaitable[T]],
        *,
        owner: str = "",
        token: int | None = None,
        ttl: float = 0.0,
    ) -> T | None:
        """Await ``fn()`` and record it; return its result, or None when it failed with a
        control-plane error or a timeout (recorded as DENIED or UNKNOWN, see
        :func:`classify`; anything else propagates). An acquire's result must have a
        ``token``; a release's is the ``released`` flag."""
        start = self.clock()
        try:
            result = await fn()
        except (errors.ControlPlaneError, TimeoutError) as exc:
            if isinstance(exc, errors.InvalidArgument):
                raise  # a bug in the caller, not an outcome
            outcome = classify(exc)
            self.record(
                Event(
                    client,
                    op,
                    ref,
                    start,
                    self.clock(),
                    outcome,
                    token,
                    owner,
                    ttl,
                    f"{type(exc).__name__}: {exc}",
                )
            )
            return None
        end = self.clock()
        if op is Op.RELEASE:
            outcome = Outcome.OK if result else Outcome.DENIED
        else:
            outcome = Outcome.OK
            if op is Op.ACQUIRE:
                token = int(result.token)  # type: ignore[attr-defined]
        self.record(Event(client, op, ref, start, end, outcome, token, owner, ttl))
        return result


def classify(exc: BaseException) -> Outcome:
    """DENIED for the control plane's definite refusals (a held lock, a grant that is gone
    or not current), UNKNOWN for everything else."""
    if isinstance(exc, errors.FailedPrecondition | errors.NotFound):
        return Outcome.DENIED
    return Outcome.UNKNOWN


@dataclasses.dataclass
class _Grant:
    ref: str
    token: int
    client: str
    owner: str
    ttl: float
    start: float  # of the acquire that granted it
    ack: float
    ops: list[Event] = dataclasses.field(default_factory=list)
    #: The end of the certainly-held interval [ack, until).
    until: float = 0.0


def check(events: Iterable[Event]) -> list[Violation]:
    """Every violation of the module's guarantees in ``events`` (empty: a valid history)."""
    events = sorted(events, key=lambda e: (e.start, e.end))
    out: list[Violation] = []
    grants: dict[tuple[str, int], _Grant] = {}
    for e in events:
        if e.end < e.start:
            out.append(Violation("malformed", f"{e} ends before it starts"))
        if e.op is Op.ACQUIRE and e.outcome is Outcome.OK:
            if e.token is None or e.ttl <= 0:
                out.append(Violation("malformed", f"acquire without token or ttl: {e}"))
                continue
            g = grants.get((e.ref, e.token))
            if g is None:
                grants[(e.ref, e.token)] = _Grant(
                    e.ref, e.token, e.client, e.owner, e.ttl, e.start, e.end
                )
            elif (g.client, g.owner) != (e.client, e.owner):
                out.append(
                    Violation(
                        "token-reuse",
                        f"ref {e.ref!r} token {e.token} granted to {g.client}/{g.owner!r} and "
                        f"to {e.client}/{e.owner!r}",
                    )
                )
        elif e.op is not Op.ACQUIRE and e.token is not None:
            g = grants.get((e.ref, e.token))
            if g is not None and g.client == e.client:
                g.ops.append(e)
    for g in grants.values():
        out.extend(_follow(g))
    by_ref: dict[str, list[_Grant]] = defaultdict(list)
    for g in grants.values():
        by_ref[g.ref].append(g)
    for gs in by_ref.values():
        out.extend(_overlaps(gs))
        out.extend(_token_order(gs))
    return out


def _follow(g: _Grant) -> list[Violation]:
    """Compute ``g.until`` from the holder's calls; report calls that found the grant gone
    while it was certainly held, and calls that found it alive after a release of it had
    been acknowledged."""
    out: list[Violation] = []
    until = g.start + g.ttl
    releasing = False  # a release started: the holder is owed nothing after it
    gone_at: float | None = None  # when a release answered released=True
    for e in g.ops:  # sorted by start
        # Answered before the grant could have expired, so applied while it was held.
        if e.op is Op.RENEW and e.outcome is Outcome.DENIED and not releasing and e.end < until:
            out.append(
                Violation(
                    "lost-grant",
                    f"{e.client} {e.op} of ref {g.ref!r} token {g.token} was refused by "
                    f"{e.end:.3f} though the grant was held until at least {until:.3f} "
                    f"({e.detail})",
                )
            )
        if e.outcome is Outcome.OK and gone_at is not None and gone_at < e.start:
            out.append(
                Violation(
                    "resurrected",
                    f"{e.client} {e.op} of ref {g.ref!r} token {g.token} succeeded at "
                    f"{e.start:.3f} after a release of it was acknowledged at {gone_at:.3f}",
                )
            )
        if e.op is Op.RENEW and e.outcome is Outcome.OK and not releasing:
            until = max(until, e.start + g.ttl)
        if e.op is Op.RELEASE:
            until = until if releasing else min(until, e.start)
            releasing = True
            if e.outcome is Outcome.OK and gone_at is None:
                gone_at = e.end
    g.until = until
    return out


def _overlaps(gs: Sequence[_Grant]) -> list[Violation]:
    out: list[Violation] = []
    held = sorted((g for g in gs if g.ack < g.until), key=lambda g: g.ack)
    latest: _Grant | None = None  # the interval seen so far that reaches furthest
    for g in held:
        if latest is not None and g.ack < latest.until:
            out.append(
                Violation(
                    "overlap",
                    f"ref {g.ref!r}: {g.client} (token {g.token}) was granted it at "
                    f"{g.ack:.3f} while {latest.client} (token {latest.token}) held it from "
                    f"{latest.ack:.3f} until at least {latest.until:.3f}",
                )
            )
        if latest is None or g.until > latest.until:
            latest = g
    return out


def _token_order(gs: Sequence[_Grant]) -> list[Violation]:
    """A grant acknowledged before another one was requested must have a smaller token."""
    out: list[Violation] = []
    by_ack = sorted(gs, key=lambda g: g.ack)
    acks = [g.ack for g in by_ack]
    best: list[_Grant] = []  # best[i]: the largest token among by_ack[: i + 1]
    for g in by_ack:
        best.append(g if not best or g.token > best[-1].token else best[-1])
    for g in gs:
        i = bisect.bisect_left(acks, g.start)  # grants acknowledged before g started
        if i and best[i - 1].token >= g.token:
            b = best[i - 1]
            out.append(
                Violation(
                    "token-order",
                    f"ref {g.ref!r}: token {g.token} ({g.client}, requested at {g.start:.3f}) is "
                    f"not greater than token {b.token} ({b.client}, acknowledged at {b.ack:.3f})",
                )
            )
    return out


def assert_valid(events: Iterable[Event], *, limit: int = 20) -> None:
    """Raise AssertionError listing (up to ``limit``) violations, if there are any."""
    found = check(events)
    if found:
        shown = "\n".join(f"  {v}" for v in found[:limit])
        more = f"\n  ... and {len(found) - limit} more" if len(found) > limit else ""
        raise AssertionError(f"{len(found)} lock-history violations:\n{shown}{more}")
