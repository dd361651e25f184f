"""The things a fleet is made of (clusters, nodes, namespaces, controllers, volumes) and
what a day of it produces (pod runs, allocations, node asset days)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from kubecost_pipeline.simulator.catalogue import PROVISIONER
from kubecost_pipeline.simulator.units import HOUR, TICKS, total_ticks


@dataclass(frozen=True, slots=True)
class Cluster:
    index: int
    id: str
    provider: str
    region: str
    account: str
    project: str
    zones: tuple[str, ...]

    @property
    def provisioner(self) -> str:
        return PROVISIONER[self.provider]


@dataclass(frozen=True, slots=True)
class Node:
    uid: int
    cluster: Cluster
    name: str
    instance_type: str
    pool: str
    zone: str
    cores: int
    ram_bytes: int
    gpus: int
    spot: bool
    cpu_price: float  # per core-hour
    ram_price: float  # per byte-hour
    gpu_price: float  # per GPU-hour
    provider_id: str
    labels: dict[str, str]


@dataclass(frozen=True, slots=True)
class Namespace:
    cluster: Cluster
    name: str
    labels: dict[str, str]


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    name: str
    cpu: float  # requested cores (0 = no request)
    ram: int  # requested bytes
    gpu: int
    load: float  # typical usage / request
    cpu_limit: float = 0.0  # 0 = no limit; usage never exceeds a limit
    ram_limit: int = 0


@dataclass(frozen=True, slots=True)
class Controller:
    """A workload: kind is deployment, statefulset, daemonset, job (a CronJob's runs) or ""
    for a bare pod. Days are indices from ``FleetSpec.start``; hours are within the day."""

    uid: int
    namespace: Namespace
    kind: str
    name: str
    replicas: int
    containers: tuple[ContainerSpec, ...]
    labels: dict[str, str]
    service: str | None
    load_balancer: bool
    pv_bytes: int
    first_day: int
    create_hour: float
    last_day: int
    delete_hour: float
    period: int  # days between rollouts
    phase: int
    run_hour: float  # jobs: scheduled start hour
    gpu_pool: bool


@dataclass(frozen=True, slots=True)
class Volume:
    """A persistent volume never mounted by a pod (it shows up as ``__unmounted__``)."""

    uid: int
    cluster: Cluster
    name: str
    claim: str
    namespace: str
    bytes: int


@dataclass(frozen=True, slots=True)
class PodRun:
    """One pod's running interval inside one day (hours from the day's start)."""

    name: str
    node: Node
    start: float
    end: float
    replica: int
    key: int  # hash seed of this pod incarnation


@dataclass(slots=True)
class Allocation:
    """A container-level (or idle / unmounted) allocation over a window.

    ``props`` holds Kubecost's ``properties`` (camelCase keys); ``v`` the numbers in the
    layout of the module constants (ticks first). ``start``/``end`` are epoch seconds.
    """

    props: dict
    start: float
    end: float
    v: list
    pvs: dict | None = None
    lbs: dict | None = None
    raw: tuple[float, float] | None = None  # (cpuCoreUsageMax, ramByteUsageMax)
    kind: str = "container"  # container | unmounted | idle

    @property
    def total_ticks(self) -> int:
        return total_ticks(self.v)

    @property
    def total_cost(self) -> float:
        return self.total_ticks / TICKS

    @property
    def minutes(self) -> float:
        return (self.end - self.start) / 60.0


@dataclass(slots=True)
class NodeDay:
    """A node's asset cost over a window (ticks) and what its containers were allocated."""

    node: Node
    start: float
    end: float
    cpu: int
    ram: int
    gpu: int
    adjustment: int
    alloc: list[int] = field(default_factory=lambda: [0, 0, 0])  # cpu, ram, gpu ticks
    alloc_hours: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])

    @property
    def hours(self) -> float:
        return (self.end - self.start) / HOUR


@dataclass(frozen=True)
class Span:
    """A window inside one UTC day: ``lo``..``hi`` hours from the day's start."""

    day: date
    lo: float
    hi: float
    reconcile: bool = True  # False: hourly sets and disabled reconciliation carry no adjustments
    revision: int = 0  # restatement revision, read once so every pass over a span agrees
