"""The fleet's static shape, drawn once from ``FleetSpec.seed`` with ``random.Random``:
clusters on AWS, GCP and Azure, nodes sized to the load, namespaces, controllers with their
containers, unmounted volumes and orphaned load balancers."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, datetime

from kubecost_pipeline.simulator.catalogue import (
    CPU_REQUESTS,
    ENVIRONMENTS,
    GPU_TYPES,
    INSTANCE_TYPES,
    NAMESPACE_POOL,
    RAM_REQUESTS_MIB,
    REGIONS,
    ROLES,
    SIDECARS,
    SYSTEM_DAEMONSETS,
    TEAMS,
)
from kubecost_pipeline.simulator.entities import (
    Cluster,
    ContainerSpec,
    Controller,
    Namespace,
    Node,
    Volume,
)
from kubecost_pipeline.simulator.hashing import name_suffix
from kubecost_pipeline.simulator.units import GIB


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


def container_spec(
    rng: random.Random, name: str, cpu: float, ram: int, gpu: int, load: float
) -> ContainerSpec:
    """A container spec; most get limits above their requests, some none."""
    cpu_limit = cpu * rng.choice([1.5, 2.0, 4.0]) if cpu and rng.random() < 0.6 else 0.0
    ram_limit = int(ram * rng.choice([1.0, 1.5, 2.0])) if ram and rng.random() < 0.8 else 0
    return ContainerSpec(name, cpu, ram, gpu, load, cpu_limit, ram_limit)


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
            container_spec(
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
                container_spec(
                    rng,
                    sidecar,
                    rng.choice([0.0, 0.05, 0.1]),
                    rng.choice([64, 128]) << 20,
                    0,
                    rng.uniform(0.2, 0.9),
                )
            )
        if rng.random() < 0.05:  # some containers request nothing and are charged for usage
            specs[0] = container_spec(rng, main, 0.0, 0, gpu, rng.uniform(0.05, 0.3))
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
                name = f"{name}-debug-{name_suffix(5, self.spec.seed, k, len(out))}"
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
        spec = container_spec(
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
            name = f"gke-{cluster.id}-{pool}-pool-{group}-{name_suffix(4, j, rng.getrandbits(32))}"
            return name, f"gce://{cluster.project}/{cluster.zones[j % 3]}/{name}"
        scale_set = f"aks-{pool}-{rng.randrange(10**7, 10**8)}-vmss"
        name = f"{scale_set}{j:06x}"
        return name, (
            f"azure:///subscriptions/{cluster.account}/resourceGroups/mc_{cluster.id}/"
            f"providers/Microsoft.Compute/virtualMachineScaleSets/{scale_set}/"
            f"virtualMachines/{j}"
        )
