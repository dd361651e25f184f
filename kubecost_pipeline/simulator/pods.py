"""Which pods of a controller run on a day, on which node and for which hours.

Everything is a hash of (seed, controller, day): Deployments and DaemonSets roll out every
``period`` days at a random hour (the old pods run until then, new names after it), a
CronJob's run gets a Job named after its scheduled minute, StatefulSet replicas keep their
names and nodes, and a bare pod lives as long as its controller entry.
"""

from __future__ import annotations

from datetime import date

from kubecost_pipeline.simulator.entities import Controller, Node, PodRun
from kubecost_pipeline.simulator.hashing import mix, name_suffix, uniform
from kubecost_pipeline.simulator.structure import Structure
from kubecost_pipeline.simulator.units import HOUR, epoch

Slot = tuple[int, float, float]  # (rollout epoch, start hour, end hour)


def alive(ctrl: Controller, i: int) -> tuple[float, float] | None:
    """The hours of day ``i`` (index from the spec's start) during which ``ctrl`` exists."""
    if i < ctrl.first_day or i > ctrl.last_day:
        return None
    lo = ctrl.create_hour if i == ctrl.first_day else 0.0
    hi = ctrl.delete_hour if i == ctrl.last_day else 24.0
    return (lo, hi) if hi > lo else None


def pod_runs(seed: int, structure: Structure, ctrl: Controller, day: date, i: int) -> list[PodRun]:
    """The pods of ``ctrl`` running on ``day`` (day index ``i``), full-day intervals."""
    hours = alive(ctrl, i)
    if hours is None:
        return []
    lo, hi = hours
    cluster = ctrl.namespace.cluster.id
    pool = structure.pools[cluster][ctrl.gpu_pool]
    uid = ctrl.uid
    if ctrl.kind == "job":
        return _job_run(seed, ctrl, pool, day, i, lo, hi)
    if ctrl.kind == "":
        node = pool[mix(seed, uid) % len(pool)]
        return [PodRun(ctrl.name, node, lo, hi, 0, mix(uid, 0))]
    if ctrl.kind == "statefulset":
        return [
            PodRun(f"{ctrl.name}-{r}", pool[mix(seed, uid, r) % len(pool)], lo, hi, r, mix(uid, r))
            for r in range(ctrl.replicas)
        ]
    slots = _rollout_slots(seed, ctrl, i, lo, hi)
    if ctrl.kind == "daemonset":
        return _daemonset_runs(seed, ctrl, structure.nodes[cluster], slots)
    return _replica_runs(seed, ctrl, pool, slots)


def _job_run(
    seed: int, ctrl: Controller, pool: list[Node], day: date, i: int, lo: float, hi: float
) -> list[PodRun]:
    """A CronJob's run of the day (skipped one day in ten), in a Job named after its minute."""
    uid = ctrl.uid
    if uniform(seed, uid, i, 1) > 0.9:
        return []
    s = min(23.5, ctrl.run_hour + uniform(seed, uid, i, 2))
    e = min(24.0, s + 0.25 + 2.5 * uniform(seed, uid, i, 3))
    s, e = max(s, lo), min(e, hi)
    if e <= s:
        return []
    minute = int((epoch(day) + ctrl.run_hour * HOUR) // 60)
    job = f"{ctrl.name}-{minute}"
    node = pool[mix(seed, uid, i, 4) % len(pool)]
    return [PodRun(f"{job}-{name_suffix(5, seed, uid, i)}", node, s, e, 0, mix(uid, i))]


def _rollout_slots(seed: int, ctrl: Controller, i: int, lo: float, hi: float) -> list[Slot]:
    """The pod generations of a day: one, or two when the day has a rollout."""
    t = i + ctrl.phase
    generation = t // ctrl.period
    rollout = t % ctrl.period == 0 and i > ctrl.first_day
    cut = 1.0 + 22.0 * uniform(seed, ctrl.uid, i, 5) if rollout else lo
    slots: list[Slot] = []
    if rollout and cut > lo:
        slots.append((generation - 1, lo, min(cut, hi)))
    if hi > max(cut, lo):
        slots.append((generation, max(cut, lo), hi))
    return slots


def _daemonset_runs(
    seed: int, ctrl: Controller, nodes: list[Node], slots: list[Slot]
) -> list[PodRun]:
    """One pod per node and generation."""
    uid, name = ctrl.uid, ctrl.name
    return [
        PodRun(f"{name}-{name_suffix(5, seed, uid, n.uid, ep)}", n, s, e, 0, mix(uid, n.uid, ep))
        for n in nodes
        for ep, s, e in slots
    ]


def _replica_runs(seed: int, ctrl: Controller, pool: list[Node], slots: list[Slot]) -> list[PodRun]:
    """A Deployment's replicas per generation, named ``<name>-<replicaset>-<pod>``."""
    uid = ctrl.uid
    runs = []
    for ep, s, e in slots:
        replica_set = name_suffix(10, seed, uid, ep)
        for r in range(ctrl.replicas):
            node = pool[mix(seed, uid, r, ep) % len(pool)]
            name = f"{ctrl.name}-{replica_set}-{name_suffix(5, seed, uid, r, ep)}"
            runs.append(PodRun(name, node, s, e, r, mix(uid, r, ep)))
    return runs
