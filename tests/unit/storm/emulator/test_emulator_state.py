"""The emulator's topology state machine: statuses, timed transitions, slots, ids, and its
JSON round trip, against a simple model (hypothesis) and in targeted cases."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from pilothouse.operators.storm.nimbus import errors
from pilothouse.operators.storm.nimbus.emulator import scheduler, state, validation

Status = state.Status
COMPONENTS = [validation.Component("count", 2, 4), validation.Component("words", 1, 1)]
TIMEOUT = 30


def conf(workers: int = 1) -> dict[str, object]:
    return {state.WORKERS: workers, state.MESSAGE_TIMEOUT: TIMEOUT}


def submit(
    cluster: state.ClusterState,
    name: str,
    now: float,
    workers: int = 1,
    status: Status = Status.ACTIVE,
) -> state.Topology:
    topology_id = cluster.allocate_id(name, now)
    return cluster.submit(topology_id, name, conf(workers), COMPONENTS, status, now)


def roundtrip(
    cluster: state.ClusterState, slots: scheduler.Slots | None = None
) -> state.ClusterState:
    doc = json.loads(json.dumps(cluster.to_json()))
    return state.ClusterState.from_json(doc, slots or cluster.slots)


# -- the model -------------------------------------------------------------------------------


@dataclasses.dataclass
class Model:
    status: Status
    workers: int
    deadline: float | None = None
    resume: Status | None = None
    new_workers: int | None = None


class TopologyStates(RuleBasedStateMachine):
    """Random submits, kills, (de)activations, rebalances, clock moves and reloads."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 1_000.0
        self.cluster = state.ClusterState(scheduler.Slots(2, 3))
        self.model: dict[str, Model] = {}
        self.numbers: list[int] = []

    def _advance_model(self) -> None:
        due = sorted(
            (m.deadline, name)
            for name, m in self.model.items()
            if m.deadline is not None and m.deadline <= self.now
        )
        for _, name in due:
            m = self.model[name]
            if m.status is Status.KILLED:
                del self.model[name]
            else:
                m.status, m.deadline = m.resume or Status.ACTIVE, None
                m.workers = m.new_workers or m.workers
                m.resume = m.new_workers = None

    @rule(
        name=st.sampled_from("abcd"),
        workers=st.integers(1, 5),
        inactive=st.booleans(),
    )
    def submit(self, name: str, workers: int, inactive: bool) -> None:
        self._advance_model()
        status = Status.INACTIVE if inactive else Status.ACTIVE
        if name in self.model:
            with pytest.raises(errors.AlreadyAliveError, match=f"`{name}` already exists"):
                submit(self.cluster, name, self.now, workers, status)
            return
        topology = submit(self.cluster, name, self.now, workers, status)
        self.model[name] = Model(status, workers)
        number = int(topology.id.split("-")[1])
        assert topology.id == f"{name}-{number}-{int(self.now)}"
        assert all(number > n for n in self.numbers)
        self.numbers.append(number)

    @rule(name=st.sampled_from("abcde"), wait=st.sampled_from([None, 0, 5, 100]))
    def kill(self, name: str, wait: int | None) -> None:
        self._advance_model()
        if name not in self.model:
            with pytest.raises(errors.NotAliveError):
                self.cluster.kill(name, wait, self.now)
            return
        self.cluster.kill(name, wait, self.now)
        m = self.model[name]
        m.status, m.resume, m.new_workers = Status.KILLED, None, None
        m.deadline = self.now + (TIMEOUT if wait is None else wait)
        self._advance_model()

    @rule(name=st.sampled_from("abcde"), activate=st.booleans())
    def toggle(self, name: str, activate: bool) -> None:
        self._advance_model()
        change = self.cluster.activate if activate else self.cluster.deactivate
        if name not in self.model:
            with pytest.raises(errors.NotAliveError):
                change(name, self.now)
            return
        change(name, self.now)
        m = self.model[name]
        if m.status in (Status.ACTIVE, Status.INACTIVE):
            m.status = Status.ACTIVE if activate else Status.INACTIVE

    @rule(
        name=st.sampled_from("abcde"),
        wait=st.sampled_from([None, 0, 5, 100]),
        workers=st.none() | st.integers(1, 6),
    )
    def rebalance(self, name: str, wait: int | None, workers: int | None) -> None:
        self._advance_model()
        plan = state.Rebalance(num_workers=workers)
        m = self.model.get(name)
        if m is None or m.status is Status.KILLED:
            with pytest.raises(errors.NotAliveError):
                self.cluster.rebalance(name, wait, plan, self.now)
            return
        self.cluster.rebalance(name, wait, plan, self.now)
        if m.status is not Status.REBALANCING:
            m.resume, m.status = m.status, Status.REBALANCING
            m.deadline = self.now + (TIMEOUT if wait is None else wait)
            m.new_workers = workers
        self._advance_model()

    @rule(dt=st.sampled_from([1.0, 5.0, 30.0, 200.0]))
    def time_passes(self, dt: float) -> None:
        self.now += dt
        self.cluster.advance(self.now)
        self._advance_model()

    @rule()
    def restart(self) -> None:
        self.cluster = roundtrip(self.cluster)

    @invariant()
    def statuses_match_the_model(self) -> None:
        got = {t.name: (t.status, t.workers) for t in self.cluster.topologies.values()}
        want = {name: (m.status, m.workers) for name, m in self.model.items()}
        assert got == want

    @invariant()
    def slots_are_consistent(self) -> None:
        slots = self.cluster.slots
        used = [s for t in self.cluster.topologies.values() for s in t.slots]
        assert len(used) == len(set(used)), "a slot is assigned twice"
        assert all(slots.exists(s) for s in used)
        free = slots.total - len(used)
        for t in self.cluster.topologies.values():
            assert len(t.slots) <= t.workers
            if t.status in (Status.ACTIVE, Status.INACTIVE) and len(t.slots) < t.workers:
                assert free == 0, f"{t.name} is short of workers while {free} slots are free"


TopologyStates.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
test_topology_states = TopologyStates.TestCase


# -- targeted cases --------------------------------------------------------------------------


def test_workers_spread_across_supervisors_and_slots_return_on_removal() -> None:
    cluster = state.ClusterState(scheduler.Slots(2, 2))
    big = submit(cluster, "big", 10.0, workers=3)
    assert sorted(big.slots) == [(0, 6700), (0, 6701), (1, 6700)]
    small = submit(cluster, "small", 10.0, workers=2)
    assert small.slots == [(1, 6701)]
    assert small.sched_status.startswith("Not enough free slots: scheduled 1 of 2")
    assert big.sched_status == "Fully Scheduled"
    cluster.kill("big", 0, 11.0)
    assert "big" not in {t.name for t in cluster.topologies.values()}
    assert len(small.slots) == 2 and small.sched_status == "Fully Scheduled"
    assert cluster.drain_removed() == [big.id]


def test_kill_waits_for_the_message_timeout_by_default_and_a_second_kill_cuts_it_short() -> None:
    cluster = state.ClusterState(scheduler.Slots(1, 4))
    topology = submit(cluster, "t", 100.0)
    cluster.kill("t", None, 100.0)
    assert topology.status is Status.KILLED and topology.deadline == 100.0 + TIMEOUT
    assert not cluster.advance(100.0 + TIMEOUT - 1)
    cluster.kill("t", 0, 101.0)
    assert cluster.by_name("t") is None
    # The name is free again and the new id has a higher number.
    assert submit(cluster, "t", 102.0).id == "t-2-102"


def test_rebalance_applies_workers_executors_and_conf_then_restores_the_status() -> None:
    cluster = state.ClusterState(scheduler.Slots(2, 4))
    topology = submit(cluster, "t", 0.0, workers=1, status=Status.INACTIVE)
    plan = state.Rebalance(num_workers=3, num_executors={"count": 9}, conf_overrides={"x": 1})
    cluster.rebalance("t", 10, plan, 0.0)
    assert topology.status is Status.REBALANCING and len(topology.slots) == 1
    cluster.activate("t", 1.0)  # no transition while rebalancing
    assert topology.status is Status.REBALANCING
    cluster.advance(10.0)
    assert topology.status is Status.INACTIVE
    assert len(topology.slots) == 3 and topology.conf["x"] == 1
    # More executors than tasks is capped at the tasks: the extra ones would idle.
    assert topology.executors == {"count": 4, "words": 1}


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (state.Rebalance(num_workers=0), "Number of workers must be greater than 0"),
        (state.Rebalance(num_executors={"nope": 2}), r"unknown component\(s\): \['nope'\]"),
        (state.Rebalance(num_executors={"count": 0}), "executors of \\[count\\]"),
    ],
)
def test_bad_rebalance_options_are_invalid(plan: state.Rebalance, message: str) -> None:
    cluster = state.ClusterState(scheduler.Slots(1, 1))
    submit(cluster, "t", 0.0)
    with pytest.raises(errors.InvalidTopologyError, match=message):
        cluster.rebalance("t", 0, plan, 0.0)
    assert cluster.by_name("t") is not None
    assert cluster.named("t").status is Status.ACTIVE


def test_deadlines_survive_a_round_trip_and_complete_late() -> None:
    cluster = state.ClusterState(scheduler.Slots(1, 2))
    submit(cluster, "gone", 0.0)
    submit(cluster, "moving", 0.0)
    cluster.kill("gone", 50, 0.0)
    cluster.rebalance("moving", 50, state.Rebalance(num_workers=2), 0.0)
    reloaded = roundtrip(cluster)
    assert reloaded.named("moving").rebalance == state.Rebalance(num_workers=2)
    assert reloaded.next_deadline() == 50.0
    reloaded.advance(500.0)  # the emulator was down past the deadline
    assert [t.name for t in reloaded.topologies.values()] == ["moving"]
    assert reloaded.named("moving").status is Status.ACTIVE
    assert len(reloaded.named("moving").slots) == 2
    assert reloaded.next_number == cluster.next_number


def test_a_reload_with_fewer_supervisors_drops_their_slots() -> None:
    cluster = state.ClusterState(scheduler.Slots(3, 1))
    topology = submit(cluster, "t", 0.0, workers=3)
    assert len(topology.slots) == 3
    smaller = roundtrip(cluster, scheduler.Slots(1, 2))
    assert sorted(smaller.named("t").slots) == [(0, 6700), (0, 6701)]


def test_unknown_ids_and_names_are_not_alive() -> None:
    cluster = state.ClusterState(scheduler.Slots(1, 1))
    with pytest.raises(errors.NotAliveError, match=r"^x-1-2$"):
        cluster.with_id("x-1-2")
    with pytest.raises(errors.NotAliveError, match=r"^x$"):
        cluster.named("x")
    with pytest.raises(ValueError, match="format"):
        state.ClusterState.from_json({"format": 99}, cluster.slots)
