"""The fleet: a deterministic model of Kubernetes clusters and what they cost, day by day.

Everything is derived from ``FleetSpec.seed``: the structure (clusters, nodes, namespaces,
controllers) is drawn once with ``random.Random(seed)``; everything that varies per day (pod
names, running intervals, usage, adjustments) is a pure hash of (seed, entity, day), so any
day can be produced on its own, in any order, as often as needed, without keeping state.

Money is counted in integer *ticks* of 1e-5 currency units, the rounding Kubecost applies to
allocation JSON, so sums at every level are exact: a namespace's cost is the sum of its
containers' costs to the last tick, and a node's asset cost is its allocated cost plus idle.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

TICKS = 100_000  # ticks per currency unit (5 decimals)
GIB = 2**30
HOUR = 3600.0

# Layout of Allocation.v: integer ticks first, then float quantities.
(
    CPU, CPU_ADJ, CPU_IDLE, GPU, GPU_ADJ, GPU_IDLE, RAM, RAM_ADJ, RAM_IDLE, PV, PV_ADJ,
    NET, NET_ADJ, NET_ZONE, NET_REGION, NET_INTERNET, LB, LB_ADJ, SHARED, EXTERNAL,
    CPU_HOURS, CPU_REQ_HOURS, CPU_USE_HOURS, RAM_HOURS, RAM_REQ_HOURS, RAM_USE_HOURS,
    GPU_HOURS, GPU_REQ_HOURS, GPU_USE_HOURS, PV_HOURS, NET_TX, NET_RX,
) = range(32)  # fmt: skip
N_TICKS = 20
N_FIELDS = 32


def new_vector() -> list:
    """A zero ``Allocation.v``: ticks are ints, quantities floats."""
    return [0] * N_TICKS + [0.0] * (N_FIELDS - N_TICKS)


def total_ticks(v: list) -> int:
    """``totalCost`` in ticks: every component plus adjustments, shared and external cost."""
    return (
        v[CPU]
        + v[CPU_ADJ]
        + v[GPU]
        + v[GPU_ADJ]
        + v[RAM]
        + v[RAM_ADJ]
        + v[PV]
        + v[PV_ADJ]
        + v[NET]
        + v[NET_ADJ]
        + v[LB]
        + v[LB_ADJ]
        + v[SHARED]
        + v[EXTERNAL]
    )


# --- deterministic hashing -------------------------------------------------------------------

_M64 = (1 << 64) - 1


def _mix(*parts: int) -> int:
    """A well-spread 64-bit hash of a tuple of ints: CPython's tuple hash (deterministic for
    ints, unlike str) finished with the splitmix64 mixer."""
    h = hash(parts) & _M64
    h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & _M64
    return h ^ (h >> 31)


def _u(*parts: int) -> float:
    """A uniform float in [0, 1) determined by the parts."""
    return _mix(*parts) / 18446744073709551616.0


def _u3(*parts: int) -> tuple[float, float, float]:
    """Three uniform floats in [0, 1) (21 bits each) from one hash of the parts."""
    h = _mix(*parts)
    return (h & 0x1FFFFF) / 2097152.0, ((h >> 21) & 0x1FFFFF) / 2097152.0, (h >> 43) / 2097152.0


_POD_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet Kubernetes uses for name suffixes


def _suffix(n: int, *parts: int) -> str:
    h = _mix(*parts)
    out = []
    for _ in range(n):
        h, r = divmod(h, 27)
        out.append(_POD_CHARS[r])
    return "".join(out)


def _ticks(amount: float) -> int:
    return round(amount * TICKS)


# --- catalogue -------------------------------------------------------------------------------

# (instance type, cores, GiB RAM, GPUs, on-demand $/hour)
INSTANCE_TYPES = {
    "AWS": [
        ("m5.xlarge", 4, 16, 0, 0.192),
        ("m5.2xlarge", 8, 32, 0, 0.384),
        ("c5.2xlarge", 8, 16, 0, 0.34),
        ("r5.xlarge", 4, 32, 0, 0.252),
    ],
    "GCP": [
        ("e2-standard-4", 4, 16, 0, 0.134),
        ("n2-standard-8", 8, 32, 0, 0.388),
        ("n2-highmem-4", 4, 32, 0, 0.262),
    ],
    "Azure": [
        ("Standard_D4s_v5", 4, 16, 0, 0.192),
        ("Standard_D8s_v5", 8, 32, 0, 0.384),
        ("Standard_E4s_v5", 4, 32, 0, 0.252),
    ],
}
GPU_TYPES = {
    "AWS": ("g4dn.xlarge", 4, 16, 1, 0.526),
    "GCP": ("n1-standard-4-t4", 4, 15, 1, 0.54),
    "Azure": ("Standard_NC4as_T4_v3", 4, 28, 1, 0.526),
}
REGIONS = {
    "AWS": ["us-east-1", "eu-west-1", "us-west-2"],
    "GCP": ["europe-west1", "us-central1"],
    "Azure": ["westeurope", "eastus"],
}
PROVISIONER = {"AWS": "EKS", "GCP": "GKE", "Azure": "AKS"}
STORAGE_CLASS = {"AWS": "gp3", "GCP": "standard-rwo", "Azure": "managed-csi"}
MGMT_HOURLY = {"AWS": 0.10, "GCP": 0.10, "Azure": 0.10}
PV_GIB_HOURLY = 0.08 / 730  # $0.08 per GiB-month
LB_HOURLY = 0.025
EGRESS_PER_GB = 0.01
ENVIRONMENTS = ["prod", "staging", "dev"]
NAMESPACE_POOL = [
    "kubecost",
    "monitoring",
    "ingress-nginx",
    "payments",
    "checkout",
    "catalog",
    "search",
    "recommendations",
    "auth",
    "orders",
    "inventory",
    "shipping",
    "notifications",
    "analytics",
    "ml-training",
    "data-pipeline",
    "frontend",
    "api-gateway",
    "billing",
    "reporting",
    "cert-manager",
    "logging",
    "argocd",
    "customer-portal",
    "fraud-detection",
    "media",
]
TEAMS = ["platform", "commerce", "growth", "data", "identity", "sre"]
ROLES = [
    "api",
    "worker",
    "web",
    "consumer",
    "scheduler",
    "gateway",
    "cache",
    "db",
    "exporter",
    "indexer",
    "sync",
    "renderer",
    "processor",
    "backend",
    "proxy",
]
SIDECARS = ["istio-proxy", "log-shipper", "config-reloader"]
SYSTEM_DAEMONSETS = {
    "AWS": ["kube-proxy", "aws-node", "ebs-csi-node"],
    "GCP": ["kube-proxy", "pdcsi-node", "fluentbit-gke"],
    "Azure": ["kube-proxy", "azure-ip-masq-agent", "csi-azuredisk-node"],
}
CPU_REQUESTS = [0.02, 0.05, 0.1, 0.1, 0.1, 0.25, 0.25, 0.5, 1.0]
RAM_REQUESTS_MIB = [64, 128, 128, 256, 256, 512, 512, 1024, 2048]


# --- the spec and the structure --------------------------------------------------------------


@dataclass(frozen=True)
class FleetSpec:
    """The size and seed of a simulated fleet.

    Args:
        seed: everything is reproducible from it.
        clusters: number of clusters (providers rotate AWS, GCP, Azure).
        nodes_per_cluster: general-purpose nodes per cluster; ``None`` sizes them to the load
            (about 55 % of requested CPU and RAM).
        namespaces_per_cluster: namespaces per cluster, ``kube-system`` included.
        pods_per_namespace: pods (replicas) per application namespace.
        containers: target number of containers per day across the fleet; when set it
            overrides ``pods_per_namespace`` (use it to ask for e.g. 50,000 containers a day).
        start: first UTC day with data.
        days: number of days with data.
        currency: reported by ``/model/getConfigs``.
    """

    seed: int = 1
    clusters: int = 2
    nodes_per_cluster: int | None = None
    namespaces_per_cluster: int = 6
    pods_per_namespace: int = 6
    containers: int | None = None
    start: date = date(2026, 11, 1)
    days: int = 30
    currency: str = "USD"

    def __post_init__(self) -> None:
        checks = [
            ("clusters", self.clusters, 1, 50),
            ("namespaces_per_cluster", self.namespaces_per_cluster, 1, 500),
            ("pods_per_namespace", self.pods_per_namespace, 1, 100_000),
            ("days", self.days, 1, 3660),
        ]
        if self.nodes_per_cluster is not None:
            checks.append(("nodes_per_cluster", self.nodes_per_cluster, 1, 10_000))
        if self.containers is not None:
            checks.append(("containers", self.containers, 1, 10_000_000))
        for name, value, low, high in checks:
            if not isinstance(value, int) or not low <= value <= high:
                raise ValueError(
                    f"FleetSpec.{name} must be an integer from {low} to {high}, got {value!r}; "
                    f"pass a value in that range."
                )
        if not isinstance(self.start, date) or isinstance(self.start, datetime):
            raise ValueError(
                f"FleetSpec.start must be a datetime.date (a UTC day), got {self.start!r}; "
                f"pass e.g. date(2026, 11, 1)."
            )


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


def _container(rng: random.Random, name: str, cpu: float, ram: int, gpu: int, load: float):
    """A container spec; most get limits above their requests, some none."""
    cpu_limit = cpu * rng.choice([1.5, 2.0, 4.0]) if cpu and rng.random() < 0.6 else 0.0
    ram_limit = int(ram * rng.choice([1.0, 1.5, 2.0])) if ram and rng.random() < 0.8 else 0
    return ContainerSpec(name, cpu, ram, gpu, load, cpu_limit, ram_limit)


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


def _epoch(d: date) -> float:
    return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()


class Structure:
    """The fleet's static shape, drawn once from the seed."""

    def __init__(self, spec: FleetSpec) -> None:
        self.spec = spec
        rng = random.Random(spec.seed)
        self.clusters: list[Cluster] = []
        self.nodes: dict[str, list[Node]] = {}
        self.pools: dict[str, tuple[list[Node], list[Node]]] = {}  # (general, GPU) by cluster
        self.namespaces: dict[str, list[Namespace]] = {}
        self.controllers: dict[str, list[Controller]] = {}
        self.volumes: dict[str, list[Volume]] = {}
        self.orphan_lbs: dict[str, list[tuple[str, str, str]]] = {}  # (namespace, svc, ip)
        self._uid = spec.seed * 1_000_003
        used: set[str] = set()
        for c in range(spec.clusters):
            provider = ["AWS", "GCP", "Azure"][c % 3]
            region = REGIONS[provider][(c // 3) % len(REGIONS[provider])]
            env = ENVIRONMENTS[(c // 3) % 3] if c >= 3 else ENVIRONMENTS[c % 3]
            name = f"{env}-{region}"
            if name in used:
                name = f"{name}-{c}"
            used.add(name)
            zones = tuple(
                f"{region}{z}"
                if provider == "AWS"
                else (f"{region}-{z}" if provider == "GCP" else f"{region}-{i}")
                for i, z in enumerate("abc", 1)
            )
            cluster = Cluster(
                index=c,
                id=name,
                provider=provider,
                region=region,
                account=(
                    f"{rng.randrange(10**11, 10**12)}"
                    if provider == "AWS"
                    else f"{rng.getrandbits(128):032x}"
                    if provider == "Azure"
                    else ""
                ),
                project=f"acme-{env}-{rng.randrange(1000, 9999)}" if provider == "GCP" else "",
                zones=zones,
            )
            self.clusters.append(cluster)
            self._build_cluster(cluster, rng)

    def _next_uid(self) -> int:
        self._uid += 1
        return self._uid

    def _container_budget(self) -> float | None:
        spec = self.spec
        if spec.containers is None:
            return None
        # daemonset pods and rollout replacements add about an eighth on a typical day
        return 0.87 * spec.containers / (spec.clusters * max(1, spec.namespaces_per_cluster - 1))

    def _build_cluster(self, cluster: Cluster, rng: random.Random) -> None:
        spec = self.spec
        n_ns = spec.namespaces_per_cluster
        names = ["kube-system"]
        pool = list(NAMESPACE_POOL)
        rng.shuffle(pool)
        if cluster.index == 0 and n_ns >= 3:
            pool.remove("ml-training")
            pool.insert(0, "ml-training")
        names += pool[: n_ns - 1]
        names += [f"team-{k}" for k in range(len(names), n_ns)]
        env = cluster.id.split("-")[0]
        namespaces = [
            Namespace(
                cluster,
                ns,
                {"kubernetes_io_metadata_name": ns, "team": rng.choice(TEAMS), "env": env},
            )
            for ns in names
        ]
        self.namespaces[cluster.id] = namespaces
        controllers: list[Controller] = []
        budget = self._container_budget()
        for ns in namespaces[1:]:
            controllers += self._app_controllers(ns, rng, budget)
        controllers += self._system_controllers(namespaces[0], rng)
        self.controllers[cluster.id] = controllers
        nodes = self.nodes[cluster.id] = self._nodes(cluster, controllers, rng)
        gpu = [n for n in nodes if n.gpus]
        self.pools[cluster.id] = ([n for n in nodes if not n.gpus] or nodes, gpu or nodes)
        self.volumes[cluster.id] = [
            Volume(
                self._next_uid(),
                cluster,
                f"pvc-{rng.getrandbits(128):032x}",
                f"backup-{k}",
                rng.choice(names[1:] or names),
                rng.choice([10, 50, 100]) * GIB,
            )
            for k in range(1 + cluster.index % 2)
        ]
        self.orphan_lbs[cluster.id] = (
            [("ingress-nginx", "legacy-ingress", f"34.{rng.randrange(256)}.{rng.randrange(256)}.7")]
            if cluster.index % 2 == 0
            else []
        )

    def _lifetime(self, rng: random.Random) -> tuple[int, float, int, float]:
        days = self.spec.days
        first, last = -1, days
        r = rng.random()
        if r < 0.1 and days > 1:
            first = rng.randrange(1, days)
        elif r < 0.2 and days > 1:
            last = rng.randrange(0, days - 1)
        return first, rng.uniform(1, 23), last, rng.uniform(1, 23)

    def _specs(self, rng: random.Random, main: str, gpu: int = 0) -> tuple[ContainerSpec, ...]:
        n = rng.choices([1, 2, 3], [6, 3, 1])[0]
        specs = [
            _container(
                rng,
                main,
                rng.choice(CPU_REQUESTS),
                rng.choice(RAM_REQUESTS_MIB) << 20,
                gpu,
                rng.uniform(0.1, 1.1),
            )
        ]
        for sidecar in rng.sample(SIDECARS, n - 1):
            specs.append(
                _container(
                    rng,
                    sidecar,
                    rng.choice([0.0, 0.05, 0.1]),
                    rng.choice([64, 128]) << 20,
                    0,
                    rng.uniform(0.2, 0.9),
                )
            )
        if rng.random() < 0.05:  # some containers request nothing and are charged for usage
            specs[0] = _container(rng, main, 0.0, 0, gpu, rng.uniform(0.05, 0.3))
        return tuple(specs)

    def _app_controllers(
        self, ns: Namespace, rng: random.Random, budget: float | None
    ) -> list[Controller]:
        out: list[Controller] = []
        pods = containers = 0
        roles = list(ROLES)
        rng.shuffle(roles)
        k = 0
        gpu_ns = ns.name == "ml-training" and ns.cluster.index == 0
        while (
            (containers < budget) if budget is not None else (pods < self.spec.pods_per_namespace)
        ):
            role = roles[k % len(roles)] + (f"-{k // len(roles)}" if k >= len(roles) else "")
            base = ns.name.split("-")[0]
            name = f"{base}-{role}"
            kind = rng.choices(["deployment", "statefulset", "job", ""], [70, 12, 10, 8])[0]
            if gpu_ns and k == 0:
                kind, name = "deployment", "model-server"
            replicas = {
                "deployment": rng.choice([1, 2, 2, 3, 3, 4, 6]),
                "statefulset": rng.choice([1, 2, 3]),
                "job": 1,
                "": 1,
            }[kind]
            if kind == "":
                name = f"{name}-debug-{_suffix(5, self.spec.seed, k, len(out))}"
            gpu = 1 if gpu_ns and k == 0 else 0
            specs = self._specs(rng, role.split("-")[0] if kind else "shell", gpu)
            first, create_h, last, delete_h = self._lifetime(rng)
            labels = {"app": name, "app_kubernetes_io_name": name, "team": ns.labels["team"]}
            service = name if kind in ("deployment", "statefulset") and rng.random() < 0.6 else None
            out.append(
                Controller(
                    uid=self._next_uid(),
                    namespace=ns,
                    kind=kind,
                    name=name,
                    replicas=replicas,
                    containers=specs,
                    labels=labels,
                    service=service,
                    load_balancer=service is not None
                    and kind == "deployment"
                    and rng.random() < 0.15,
                    pv_bytes=rng.choice([8, 20, 50, 100]) * GIB if kind == "statefulset" else 0,
                    first_day=first,
                    create_hour=create_h,
                    last_day=last,
                    delete_hour=delete_h,
                    period=rng.randrange(3, 11),
                    phase=rng.randrange(0, 11),
                    run_hour=rng.uniform(0, 20),
                    gpu_pool=gpu > 0,
                )
            )
            pods += replicas
            containers += replicas * len(specs)
            k += 1
        return out

    def _system_controllers(self, ns: Namespace, rng: random.Random) -> list[Controller]:
        out = []
        provider = ns.cluster.provider
        for name in SYSTEM_DAEMONSETS[provider]:
            out.append(self._system(ns, "daemonset", name, 1, rng))
        for name, replicas in (("coredns", 2), ("metrics-server", 1)):
            out.append(self._system(ns, "deployment", name, replicas, rng))
        return out

    def _system(self, ns: Namespace, kind: str, name: str, replicas: int, rng: random.Random):
        spec = _container(
            rng,
            name,
            rng.choice([0.05, 0.1]),
            rng.choice([64, 128, 256]) << 20,
            0,
            rng.uniform(0.1, 0.6),
        )
        labels = {"k8s_app": name, "app_kubernetes_io_name": name}
        return Controller(
            uid=self._next_uid(),
            namespace=ns,
            kind=kind,
            name=name,
            replicas=replicas,
            containers=(spec,),
            labels=labels,
            service="kube-dns" if name == "coredns" else None,
            load_balancer=False,
            pv_bytes=0,
            first_day=-1,
            create_hour=0.0,
            last_day=self.spec.days,
            delete_hour=24.0,
            period=rng.randrange(7, 15),
            phase=rng.randrange(0, 15),
            run_hour=0.0,
            gpu_pool=False,
        )

    def _nodes(self, cluster: Cluster, controllers: list[Controller], rng: random.Random):
        provider = cluster.provider
        itype = max(INSTANCE_TYPES[provider], key=lambda t: (t[1], t[2]))
        has_gpu = any(c.gpu_pool for c in controllers)
        n = self.spec.nodes_per_cluster
        if n is None:
            cpu = sum(
                c.replicas * sum(s.cpu for s in c.containers)
                for c in controllers
                if c.kind != "daemonset"
            )
            ram = sum(
                c.replicas * sum(s.ram for s in c.containers)
                for c in controllers
                if c.kind != "daemonset"
            )
            n = max(2, math.ceil(cpu / (itype[1] * 0.6)), math.ceil(ram / (itype[2] * GIB * 0.6)))
            n += has_gpu
        types = [itype] * n
        if has_gpu and n >= 2:
            types[-1] = GPU_TYPES[provider]
        nodes = []
        for j, (itype_name, cores, ram_gib, gpus, price) in enumerate(types):
            spot = gpus == 0 and rng.random() < 0.3
            hourly = price * (rng.uniform(0.3, 0.4) if spot else 1.0)
            gpu_price = hourly * 0.6 if gpus else 0.0
            rest = hourly - gpu_price
            zone = cluster.zones[j % len(cluster.zones)]
            pool = "gpu" if gpus else ("spot" if spot else "default")
            name, provider_id = self._node_name(cluster, pool, j, rng)
            labels = {
                "kubernetes_io_hostname": name,
                "node_kubernetes_io_instance_type": itype_name,
                "topology_kubernetes_io_region": cluster.region,
                "topology_kubernetes_io_zone": zone,
                "kubernetes_io_os": "linux",
            }
            nodes.append(
                Node(
                    uid=self._next_uid(),
                    cluster=cluster,
                    name=name,
                    instance_type=itype_name,
                    pool=pool,
                    zone=zone,
                    cores=cores,
                    ram_bytes=ram_gib * GIB,
                    gpus=gpus,
                    spot=spot,
                    cpu_price=rest * 0.7 / cores,
                    ram_price=rest * 0.3 / (ram_gib * GIB),
                    gpu_price=gpu_price / gpus if gpus else 0.0,
                    provider_id=provider_id,
                    labels=labels,
                )
            )
        return nodes

    def _node_name(self, cluster: Cluster, pool: str, j: int, rng: random.Random):
        if cluster.provider == "AWS":
            ip = f"10-{cluster.index}-{j // 250}-{j % 250 + 4}"
            suffix = (
                "ec2.internal"
                if cluster.region == "us-east-1"
                else (f"{cluster.region}.compute.internal")
            )
            return f"ip-{ip}.{suffix}", f"i-0{rng.getrandbits(64):016x}"
        if cluster.provider == "GCP":
            group = f"{rng.getrandbits(32):08x}"
            name = f"gke-{cluster.id}-{pool}-pool-{group}-{_suffix(4, j, rng.getrandbits(32))}"
            return name, f"gce://{cluster.project}/{cluster.zones[j % 3]}/{name}"
        scale_set = f"aks-{pool}-{rng.randrange(10**7, 10**8)}-vmss"
        name = f"{scale_set}{j:06x}"
        return name, (
            f"azure:///subscriptions/{cluster.account}/resourceGroups/mc_{cluster.id}/"
            f"providers/Microsoft.Compute/virtualMachineScaleSets/{scale_set}/"
            f"virtualMachines/{j}"
        )


# --- per-day generation ----------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """A window inside one UTC day: ``lo``..``hi`` hours from the day's start."""

    day: date
    lo: float
    hi: float
    reconcile: bool = True  # False: hourly sets and disabled reconciliation carry no adjustments
    revision: int = 0  # restatement revision, read once so every pass over a span agrees


class Fleet:
    """A deterministic fleet; see the module docstring.

    Args:
        spec: size and seed.
        now: the clock of the model: today's set is partial up to ``now`` and days after it
            have no data. ``None`` follows the wall clock.
    """

    RESTATED_DAYS = 2  # days before today whose adjustments still change (plus today)

    def __init__(self, spec: FleetSpec | None = None, now: datetime | None = None) -> None:
        self.spec = spec or FleetSpec()
        self.structure = Structure(self.spec)
        self.now = now
        self._revisions: dict[date, int] = {}
        self.totals_cache: dict = {}  # engine's per-span pass-1 sums (see engine.SpanRows)
        self.lock = threading.Lock()  # guards revisions and the cache across server threads

    # -- clock and restatement --

    def clock(self) -> datetime:
        if self.now is None:
            return datetime.now(UTC)
        if self.now.tzinfo is None:
            return self.now.replace(tzinfo=UTC)
        return self.now.astimezone(UTC)

    def is_restated(self, day: date) -> bool:
        """Whether ``day``'s adjustments still change between reads (the last two days)."""
        return day >= self.clock().date() - timedelta(days=self.RESTATED_DAYS)

    def revision(self, day: date) -> int:
        return self._revisions.get(day, 0)

    def restate(self, day: date, revision: int | None = None) -> int:
        """Move ``day`` to a newer (or the given) restatement revision; returns it.

        Only days within the restatement window change; older days are final.
        """
        if not self.is_restated(day):
            return self.revision(day)
        with self.lock:
            rev = self.revision(day) + 1 if revision is None else revision
            self._revisions[day] = max(rev, self.revision(day))
            return self._revisions[day]

    def _adj_factor(self, entity: int, span: Span) -> float:
        """Reconciled minus list price, as a fraction: final after the restatement window;
        inside it, unreconciled (0) at revision 0 and a different value at every revision."""
        if not span.reconcile:
            return 0.0
        o = span.day.toordinal()
        final = -0.08 + 0.1 * _u(self.spec.seed, entity, o, 11)
        if not self.is_restated(span.day):
            return final
        rev = span.revision
        return 0.0 if rev == 0 else final * (0.4 + 1.2 * _u(self.spec.seed, entity, o, rev, 12))

    # -- days --

    @property
    def days(self) -> list[date]:
        return [self.spec.start + timedelta(days=i) for i in range(self.spec.days)]

    def day_span(self, day: date) -> Span | None:
        """The part of ``day`` with data (clipped to now), or None."""
        i = (day - self.spec.start).days
        if not 0 <= i < self.spec.days:
            return None
        hi = min(24.0, (self.clock().timestamp() - _epoch(day)) / HOUR)
        return Span(day, 0.0, hi, True, self.revision(day)) if hi > 0 else None

    def clip(self, span: Span) -> Span | None:
        """``span`` limited to the data that exists, at the day's current revision."""
        full = self.day_span(span.day)
        if full is None:
            return None
        lo, hi = max(span.lo, full.lo), min(span.hi, full.hi)
        return Span(span.day, lo, hi, span.reconcile, full.revision) if hi > lo else None

    # -- pods --

    def _alive(self, ctrl: Controller, i: int) -> tuple[float, float] | None:
        if i < ctrl.first_day or i > ctrl.last_day:
            return None
        lo = ctrl.create_hour if i == ctrl.first_day else 0.0
        hi = ctrl.delete_hour if i == ctrl.last_day else 24.0
        return (lo, hi) if hi > lo else None

    def pods(self, ctrl: Controller, day: date) -> list[PodRun]:
        """The pods of a controller running on ``day`` (full-day intervals, unclipped)."""
        i = (day - self.spec.start).days
        alive = self._alive(ctrl, i)
        if alive is None:
            return []
        lo, hi = alive
        seed, uid = self.spec.seed, ctrl.uid
        cluster_nodes = self.structure.nodes[ctrl.namespace.cluster.id]
        pool = self.structure.pools[ctrl.namespace.cluster.id][ctrl.gpu_pool]
        runs: list[PodRun] = []
        kind = ctrl.kind
        if kind == "job":
            if _u(seed, uid, i, 1) > 0.9:
                return []
            s = min(23.5, ctrl.run_hour + _u(seed, uid, i, 2))
            e = min(24.0, s + 0.25 + 2.5 * _u(seed, uid, i, 3))
            s, e = max(s, lo), min(e, hi)
            if e <= s:
                return []
            minute = int((_epoch(day) + ctrl.run_hour * HOUR) // 60)
            job = f"{ctrl.name}-{minute}"
            node = pool[_mix(seed, uid, i, 4) % len(pool)]
            return [PodRun(f"{job}-{_suffix(5, seed, uid, i)}", node, s, e, 0, _mix(uid, i))]
        if kind == "":
            node = pool[_mix(seed, uid) % len(pool)]
            return [PodRun(ctrl.name, node, lo, hi, 0, _mix(uid, 0))]
        if kind == "statefulset":
            return [
                PodRun(
                    f"{ctrl.name}-{r}",
                    pool[_mix(seed, uid, r) % len(pool)],
                    lo,
                    hi,
                    r,
                    _mix(uid, r),
                )
                for r in range(ctrl.replicas)
            ]
        # deployments and daemonsets roll out every `period` days at a random hour
        t = i + ctrl.phase
        epoch = t // ctrl.period
        rollout = t % ctrl.period == 0 and i > ctrl.first_day
        cut = 1.0 + 22.0 * _u(seed, uid, i, 5) if rollout else lo
        slots: list[tuple[int, float, float]] = []
        if rollout and cut > lo:
            slots.append((epoch - 1, lo, min(cut, hi)))
        if hi > max(cut, lo):
            slots.append((epoch, max(cut, lo), hi))
        if kind == "daemonset":
            for n in cluster_nodes:
                for ep, s, e in slots:
                    runs.append(
                        PodRun(
                            f"{ctrl.name}-{_suffix(5, seed, uid, n.uid, ep)}",
                            n,
                            s,
                            e,
                            0,
                            _mix(uid, n.uid, ep),
                        )
                    )
            return runs
        for ep, s, e in slots:
            rs = _suffix(10, seed, uid, ep)
            for r in range(ctrl.replicas):
                node = pool[_mix(seed, uid, r, ep) % len(pool)]
                runs.append(
                    PodRun(
                        f"{ctrl.name}-{rs}-{_suffix(5, seed, uid, r, ep)}",
                        node,
                        s,
                        e,
                        r,
                        _mix(uid, r, ep),
                    )
                )
        return runs

    def pv_name(self, ctrl: Controller, replica: int) -> tuple[str, str]:
        """(volume name, claim name) of a StatefulSet replica's volume."""
        h = _mix(self.spec.seed, ctrl.uid, replica, 99)
        u = f"{h:016x}{_mix(h):016x}"
        return (
            f"pvc-{u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:32]}",
            f"data-{ctrl.name}-{replica}",
        )

    # -- ground truth --

    def truth(
        self,
        day_start: date,
        day_end: date | None = None,
        level: str = "namespace",
        idle_policy: str = "separate",
        **options: object,
    ) -> dict[tuple[str, ...], float]:
        """Expected ``totalCost`` per key over the days ``[day_start, day_end)``.

        See ``kubecost_pipeline.simulator.truth`` for levels, keys and options
        (``share_tenancy``, ``share_namespaces``, ``idle_by_node``).
        """
        from kubecost_pipeline.simulator.truth import truth

        return truth(self, day_start, day_end, level, idle_policy, **options)  # type: ignore[arg-type]

    # -- allocations --

    def allocations(self, day: date) -> Iterator[Allocation]:
        """The container-level allocations of one UTC day (as of now and the current
        restatement revision), followed by one ``__unmounted__`` row per cluster that has
        unmounted volumes or load balancers. No idle, no sharing applied."""
        span = self.day_span(day)
        if span is None:
            return iter(())
        return self.raw(span)

    def raw(self, span: Span, nodes: dict[int, NodeDay] | None = None) -> Iterator[Allocation]:
        """Allocations inside ``span`` (already clipped); if ``nodes`` is given, adds each
        allocation's cpu/ram/gpu ticks to its node's ``alloc``."""
        for cluster in self.structure.clusters:
            yield from self._cluster_raw(cluster, span, nodes)

    def _cluster_raw(self, cluster: Cluster, span: Span, nodes: dict[int, NodeDay] | None):
        seed = self.spec.seed
        day, lo_w, hi_w = span.day, span.lo, span.hi
        o = day.toordinal()
        t0 = _epoch(day)
        window = (t0 + lo_w * HOUR, t0 + hi_w * HOUR)
        factors: dict[int, float] = {}
        for ctrl in self.structure.controllers[cluster.id]:
            runs = self.pods(ctrl, day)
            if not runs:
                continue
            ns = ctrl.namespace
            clipped = [(r, max(r.start, lo_w), min(r.end, hi_w)) for r in runs]
            clipped = [c for c in clipped if c[2] > c[1]]
            if not clipped:
                continue
            lb_share = None
            if ctrl.load_balancer:
                lb_total = self.lb_ticks(ctrl, span)
                lb_share = _Spread(lb_total, sum(round((e - s) * 3600) for _, s, e in clipped))
            for run, s, e in clipped:
                node = run.node
                hours = e - s
                factor = factors.get(node.uid)
                if factor is None:
                    factor = factors[node.uid] = self._adj_factor(node.uid, span)
                labels = {**node.labels, **ns.labels, **ctrl.labels}
                if ctrl.kind == "deployment":
                    labels["pod_template_hash"] = run.name.rsplit("-", 2)[-2]
                base: dict = {"cluster": cluster.id, "node": node.name, "namespace": ns.name}
                if ctrl.kind:  # a CronJob's pods belong to that run's Job
                    base["controllerKind"] = ctrl.kind
                    base["controller"] = run.name[:-6] if ctrl.kind == "job" else ctrl.name
                for ci, cs in enumerate(ctrl.containers):
                    u1, u2, u3 = _u3(seed, run.key, ci, o)
                    cpu_use = (cs.cpu or 0.2) * cs.load * (0.5 + u1)
                    ram_use = (cs.ram or 256 << 20) * min(1.3, cs.load * (0.6 + 0.8 * u2))
                    if cs.cpu_limit:
                        cpu_use = min(cpu_use, cs.cpu_limit)
                    if cs.ram_limit:
                        ram_use = min(ram_use, cs.ram_limit)
                    cpu_alloc = max(cs.cpu, cpu_use)
                    ram_alloc = max(cs.ram, ram_use)
                    v = new_vector()
                    v[CPU_HOURS] = cpu_alloc * hours
                    v[CPU_REQ_HOURS] = cs.cpu * hours
                    v[CPU_USE_HOURS] = cpu_use * hours
                    v[RAM_HOURS] = ram_alloc * hours
                    v[RAM_REQ_HOURS] = cs.ram * hours
                    v[RAM_USE_HOURS] = ram_use * hours
                    v[CPU] = cpu = _ticks(v[CPU_HOURS] * node.cpu_price)
                    v[RAM] = ram = _ticks(v[RAM_HOURS] * node.ram_price)
                    v[CPU_ADJ] = round(cpu * factor)
                    v[RAM_ADJ] = round(ram * factor)
                    if cs.gpu and node.gpus:
                        v[GPU_HOURS] = v[GPU_REQ_HOURS] = cs.gpu * hours
                        v[GPU_USE_HOURS] = cs.gpu * hours * (0.3 + 0.6 * u3)
                        v[GPU] = _ticks(v[GPU_HOURS] * node.gpu_price)
                        v[GPU_ADJ] = round(v[GPU] * factor)
                    tx = hours * 3.6e6 * (cs.cpu + 0.05) * (1 + 20 * u3)
                    v[NET_TX], v[NET_RX] = tx, tx * (0.5 + u1)
                    v[NET] = net = _ticks(tx / 1e9 * EGRESS_PER_GB)
                    v[NET_ZONE] = zone = net * 6 // 10
                    v[NET_REGION] = region = net // 10
                    v[NET_INTERNET] = net - zone - region
                    props = dict(base)
                    props["pod"] = run.name
                    props["container"] = cs.name
                    if ctrl.service:
                        props["services"] = [ctrl.service]
                    props["providerID"] = node.provider_id
                    props["labels"] = labels
                    props["namespaceLabels"] = ns.labels
                    a = Allocation(
                        props,
                        t0 + s * HOUR,
                        t0 + e * HOUR,
                        v,
                        raw=(
                            min(cpu_use * (1.1 + 0.3 * u2), cs.cpu_limit or math.inf),
                            min(ram_use * (1.05 + 0.2 * u1), cs.ram_limit or math.inf),
                        ),
                    )
                    if ci == 0 and ctrl.pv_bytes:
                        self._attach_pv(a, ctrl, run, hours, span)
                    if ci == 0 and lb_share is not None:
                        cost = lb_share.take(round(hours * 3600))
                        a.v[LB] = cost
                        key = f"{cluster.id}/{ns.name}/{ctrl.service}"
                        a.lbs = {
                            key: {
                                "service": f"{ns.name}/{ctrl.service}",
                                "cost": cost,
                                "private": False,
                                "ip": self.lb_ip(ctrl),
                                "hours": hours,
                            }
                        }
                    if nodes is not None:
                        nd = nodes[node.uid]
                        nd.alloc[0] += v[CPU]
                        nd.alloc[1] += v[RAM]
                        nd.alloc[2] += v[GPU]
                        nd.alloc_hours[0] += v[CPU_HOURS]
                        nd.alloc_hours[1] += v[RAM_HOURS]
                        nd.alloc_hours[2] += v[GPU_HOURS]
                    yield a
        unmounted = self._unmounted(cluster, span, window)
        if unmounted is not None:
            yield unmounted

    def lb_ticks(self, ctrl: Controller, span: Span) -> int:
        """A controller's load balancer cost over ``span``: it lives as long as the controller."""
        alive = self._alive(ctrl, (span.day - self.spec.start).days)
        if alive is None:
            return 0
        hours = min(alive[1], span.hi) - max(alive[0], span.lo)
        return _ticks(LB_HOURLY * hours) if hours > 0 else 0

    def pv_adjustment(self, cost: int, entity: int, span: Span) -> int:
        return round(cost * self._adj_factor(entity, span) / 4)

    def lb_ip(self, ctrl: Controller) -> str:
        h = _mix(self.spec.seed, ctrl.uid, 77)
        return f"52.{h % 256}.{(h >> 8) % 256}.{(h >> 16) % 256}"

    def pv_ticks(self, size: int, hours: float) -> int:
        return _ticks(size / GIB * PV_GIB_HOURLY * hours)

    def _attach_pv(
        self, a: Allocation, ctrl: Controller, run: PodRun, hours: float, span: Span
    ) -> None:
        name, _ = self.pv_name(ctrl, run.replica)
        cost = self.pv_ticks(ctrl.pv_bytes, hours)
        adj = self.pv_adjustment(cost, ctrl.uid + run.replica, span)
        a.v[PV], a.v[PV_ADJ] = cost, adj
        a.v[PV_HOURS] = ctrl.pv_bytes * hours
        cluster = ctrl.namespace.cluster
        a.pvs = {
            f"cluster={cluster.id}:name={name}": {
                "byteHours": ctrl.pv_bytes * hours,
                "cost": cost,
                "providerID": self.volume_id(name),
                "adjustment": adj,
            }
        }

    def volume_id(self, name: str) -> str:
        return "vol-0" + name[4:20].replace("-", "")

    def _unmounted(self, cluster: Cluster, span: Span, window: tuple[float, float]):
        vols = self.structure.volumes[cluster.id]
        lbs = self.structure.orphan_lbs[cluster.id]
        if not vols and not lbs:
            return None
        hours = span.hi - span.lo
        v = new_vector()
        pvs = {}
        for vol in vols:
            cost = self.pv_ticks(vol.bytes, hours)
            v[PV] += cost
            v[PV_HOURS] += vol.bytes * hours
            pvs[f"cluster={cluster.id}:name={vol.name}"] = {
                "byteHours": vol.bytes * hours,
                "cost": cost,
                "providerID": self.volume_id(vol.name),
                "adjustment": 0,
            }
        lb_map = {}
        for ns, svc, ip in lbs:
            cost = _ticks(LB_HOURLY * hours)
            v[LB] += cost
            lb_map[f"{cluster.id}/{ns}/{svc}"] = {
                "service": f"{ns}/{svc}",
                "cost": cost,
                "private": False,
                "ip": ip,
                "hours": hours,
            }
        props = {
            "cluster": cluster.id,
            "namespace": "__unmounted__",
            "pod": "__unmounted__",
            "container": "__unmounted__",
        }
        return Allocation(
            props, window[0], window[1], v, pvs or None, lb_map or None, kind="unmounted"
        )

    # -- assets --

    def node_days(self, span: Span) -> dict[int, NodeDay]:
        """Every node's asset cost over ``span`` (allocated sums still zero)."""
        t0 = _epoch(span.day)
        hours = span.hi - span.lo
        out = {}
        for cluster in self.structure.clusters:
            for n in self.structure.nodes[cluster.id]:
                cpu = _ticks(n.cores * hours * n.cpu_price)
                ram = _ticks(n.ram_bytes * hours * n.ram_price)
                gpu = _ticks(n.gpus * hours * n.gpu_price)
                f = self._adj_factor(n.uid, span)
                out[n.uid] = NodeDay(
                    n,
                    t0 + span.lo * HOUR,
                    t0 + span.hi * HOUR,
                    cpu,
                    ram,
                    gpu,
                    round((cpu + ram + gpu) * f),
                )
        return out

    def management_ticks(self, cluster: Cluster, span: Span) -> int:
        """The cluster management fee (EKS/GKE/AKS control plane) over ``span``."""
        return _ticks(MGMT_HOURLY[cluster.provider] * (span.hi - span.lo))


class _Spread:
    """Splits ``amount`` ticks over a stream of integer weights summing to ``total``, exactly:
    each share is the difference of rounded cumulative fractions, so shares add up to
    ``amount`` with no remainder, in one pass and O(1) memory."""

    __slots__ = ("amount", "cum", "given", "total")

    def __init__(self, amount: int, total: int) -> None:
        self.amount, self.total, self.cum, self.given = amount, total, 0, 0

    def take(self, weight: int) -> int:
        if self.total <= 0:
            return 0
        self.cum += weight
        target = (2 * self.amount * self.cum + self.total) // (2 * self.total)
        share = target - self.given
        self.given = target
        return share
