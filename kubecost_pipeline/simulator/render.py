"""JSON text of allocations and assets, per flavour, one record at a time.

Numbers are written the way each server writes them: allocation floats rounded to 5 decimals
in shortest form (Kubecost >= 1.101, OpenCost), ``%f`` strings in the old 1.9x style, asset
floats always ``%f``. Costs come from integer ticks, so their text is exact.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime

from kubecost_pipeline.simulator.assets import Asset
from kubecost_pipeline.simulator.entities import Allocation
from kubecost_pipeline.simulator.units import (
    CPU,
    CPU_ADJ,
    CPU_HOURS,
    CPU_IDLE,
    CPU_REQ_HOURS,
    CPU_USE_HOURS,
    EXTERNAL,
    GPU,
    GPU_ADJ,
    GPU_HOURS,
    GPU_IDLE,
    GPU_REQ_HOURS,
    GPU_USE_HOURS,
    LB,
    LB_ADJ,
    NET,
    NET_ADJ,
    NET_INTERNET,
    NET_REGION,
    NET_RX,
    NET_TX,
    NET_ZONE,
    PV,
    PV_ADJ,
    PV_HOURS,
    RAM,
    RAM_ADJ,
    RAM_HOURS,
    RAM_IDLE,
    RAM_REQ_HOURS,
    RAM_USE_HOURS,
    SHARED,
    total_ticks,
)
from kubecost_pipeline.simulator.windows import iso

_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Kubecost 1.10x / OpenCost 1.105 field order (the opencost-website example).
BASE_FIELDS = _names("""
    name properties window start end minutes cpuCores cpuCoreRequestAverage
    cpuCoreUsageAverage cpuCoreHours cpuCost cpuCostAdjustment cpuEfficiency gpuCount gpuHours
    gpuCost gpuCostAdjustment networkTransferBytes networkReceiveBytes networkCost
    networkCrossZoneCost networkCrossRegionCost networkInternetCost networkCostAdjustment
    loadBalancerCost loadBalancerCostAdjustment pvBytes pvByteHours pvCost pvs pvCostAdjustment
    ramBytes ramByteRequestAverage ramByteUsageAverage ramByteHours ramCost ramCostAdjustment
    ramEfficiency externalCost sharedCost totalCost totalEfficiency rawAllocationOnly
    proportionalAssetResourceCosts lbAllocations sharedCostBreakdown
""")
# OpenCost 1.112 and Kubecost 2.x add GPU request/usage/efficiency and the idle portions.
_NEWER = {
    "cpuCostAdjustment": ("cpuCostIdle",),
    "gpuCost": ("gpuCostIdle",),
    "gpuCostAdjustment": ("gpuRequestAverage", "gpuUsageAverage", "gpuEfficiency"),
    "ramCostAdjustment": ("ramCostIdle",),
}
NEW_FIELDS = tuple(f for name in BASE_FIELDS for f in (name, *_NEWER.get(name, ())))
# Kubecost 1.9x (the opencost-swagger example): no network split, no PARC/LB/shared maps.
OLD_FIELDS = _names("""
    name properties window start end minutes cpuCores cpuCoreRequestAverage
    cpuCoreUsageAverage cpuCoreHours cpuCost cpuCostAdjustment cpuEfficiency gpuCount gpuHours
    gpuCost gpuCostAdjustment networkTransferBytes networkReceiveBytes networkCost
    networkCostAdjustment loadBalancerCost loadBalancerCostAdjustment pvBytes pvByteHours pvCost
    pvs pvCostAdjustment ramBytes ramByteRequestAverage ramByteUsageAverage ramByteHours ramCost
    ramCostAdjustment ramEfficiency sharedCost externalCost totalCost totalEfficiency
    rawAllocationOnly
""")
NAN_FIELDS = frozenset(
    _names("""
    cpuEfficiency ramEfficiency gpuEfficiency totalEfficiency cpuCoreUsageAverage
    ramByteUsageAverage
""")
)
NULL_FIELDS = frozenset(
    _names("""
    cpuCostAdjustment ramCostAdjustment gpuCostAdjustment pvCostAdjustment networkCostAdjustment
    loadBalancerCostAdjustment networkCrossZoneCost networkCrossRegionCost networkInternetCost
    externalCost pvs lbAllocations
""")
)


@dataclass(frozen=True)
class Flavour:
    """How one kind of server answers."""

    name: str
    prefix: str  # "/model" for Kubecost, "" for OpenCost
    version: str
    fields: tuple[str, ...]
    string_floats: bool = False  # Kubecost 1.9x: "%f" strings
    trim_properties: bool = False  # Kubecost >= 2.2.3: only the aggregated levels' properties
    default_aggregate: tuple[str, ...] | None = None  # None: container key
    idle_param: str = "idle"
    idle_default: bool = True
    assets_as_map: bool = False  # OpenCost /assets: data is one map
    paging: bool = True
    tenancy: bool = True  # shareTenancyCosts exists (default true)
    split_idle: bool = True
    legacy_labels: bool = False
    node_label_prefix: str = ""  # asset node labels "label_..." in older builds
    default_step: str | None = "1d"  # None: one set for the window (OpenCost computes on demand)
    raw_aggregated: bool = False  # rawAllocationOnly (max usage) kept on aggregated rows
    hourly_when_recent: bool = False  # no step/accumulate inside hourly retention: hourly sets
    v2_filter: bool = True  # /allocation honours `filter` (Kubecost >= ~1.106; not OpenCost 1.112)
    v1_filters: bool = True  # /allocation honours `filterClusters`, ... when `filter` is not used


FLAVOURS = {
    "kubecost1": Flavour(
        "kubecost1",
        "/model",
        "1.108.1",
        BASE_FIELDS,
        node_label_prefix="label_",
        raw_aggregated=True,
        hourly_when_recent=True,
    ),
    "kubecost2": Flavour(
        "kubecost2",
        "/model",
        "2.4.3",
        (*NEW_FIELDS, "gpuAllocation"),
        trim_properties=True,
        default_aggregate=("namespace",),
    ),
    "opencost": Flavour(
        "opencost",
        "",
        "1.112.0",
        NEW_FIELDS,
        idle_param="includeIdle",
        idle_default=False,
        assets_as_map=True,
        paging=False,
        tenancy=False,
        split_idle=False,
        default_step=None,
        v2_filter=False,
        v1_filters=False,
    ),
    "kubecost19": Flavour(
        "kubecost19",
        "/model",
        "1.96.0",
        OLD_FIELDS,
        string_floats=True,
        v2_filter=False,
        legacy_labels=True,
        node_label_prefix="label_",
        hourly_when_recent=True,
    ),
}


def get_flavour(name: str) -> Flavour:
    try:
        return FLAVOURS[name]
    except KeyError:
        raise ValueError(
            f"unknown simulator flavour {name!r}; choose one of {', '.join(FLAVOURS)}"
        ) from None


# --- numbers --------------------------------------------------------------------------------


def ticks_text(t: int, six: bool = False) -> str:
    """Exact decimal text of ``t`` ticks: shortest form, or six decimals (``%f``)."""
    if not t:
        return "0.000000" if six else "0"
    sign = "-" if t < 0 else ""
    q, r = divmod(abs(t), 100_000)
    if six:
        return f"{sign}{q}.{r:05d}0"
    if r == 0:
        return f"{sign}{q}"
    return f"{sign}{q}.{r:05d}".rstrip("0")


def r5(x: float | None) -> str:
    """A float as Kubecost >= 1.101 writes it: rounded to 5 decimals, NaN/Inf as null."""
    if not x:
        return "null" if x is None else "0"
    if x != x or x in (math.inf, -math.inf):
        return "null"
    text = f"{x:.5f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def f6(x: float) -> str:
    """Go ``%f``: six decimals (asset JSON, and allocation JSON before 1.101)."""
    if x is None or math.isnan(x) or math.isinf(x):
        return "null"
    return f"{x:.6f}"


class Numbers:
    """Number writers for one flavour."""

    def __init__(self, fl: Flavour) -> None:
        if fl.string_floats:
            self.num = lambda x: f'"{f6(x)}"' if x is not None else "null"
            self.money = lambda t: f'"{ticks_text(t, six=True)}"'
        else:
            self.num = r5
            self.money = ticks_text


# --- allocations ----------------------------------------------------------------------------

TRIM = {
    "cluster": ("cluster",),
    "node": ("node", "providerID"),
    "namespace": ("namespace", "namespaceLabels"),
    "controllerKind": ("controllerKind",),
    "controller": ("controllerKind", "controller"),
    "pod": ("pod",),
    "container": ("container",),
    "service": ("services",),
    "providerID": ("providerID",),
    "deployment": ("controllerKind", "controller"),
    "statefulset": ("controllerKind", "controller"),
    "daemonset": ("controllerKind", "controller"),
    "job": ("controllerKind", "controller"),
}


def _properties(a: Allocation, fl: Flavour, aggregate: tuple[str, ...] | None) -> dict:
    props = a.props
    if fl.name == "kubecost19":
        props = {k: v for k, v in props.items() if k != "namespaceLabels"}
    if fl.trim_properties and a.kind != "idle":
        keep: set[str] = set()
        for p in aggregate or ("cluster", "node", "namespace", "controller", "pod", "container"):
            keep.update(TRIM.get(p, ()))
            if p.startswith("label:"):
                keep.add("labels")
        props = {k: v for k, v in props.items() if k in keep}
        if "labels" in props and aggregate:
            wanted = {p[6:] for p in aggregate if p.startswith("label:")}
            props["labels"] = {k: v for k, v in props["labels"].items() if k in wanted}
    return props


def _ratio(num: float, den: float) -> float:
    if den > 0:
        return num / den
    return 1.0 if num > 0 else 0.0


def allocation_json(
    name: str,
    a: Allocation,
    window: str,
    fl: Flavour,
    nums: Numbers,
    aggregate: tuple[str, ...] | None,
    raw: bool,
    nulls: frozenset[str] = frozenset(),
) -> str:
    """One ``"<name>": {...}`` member of a set."""
    v = a.v
    hours = (a.end - a.start) / 3600.0
    per_h = (1.0 / hours) if hours > 0 else 0.0
    num, money = nums.num, nums.money
    idle = a.kind == "idle"
    cpu_eff = 0.0 if idle else _ratio(v[CPU_USE_HOURS], v[CPU_REQ_HOURS] or v[CPU_HOURS])
    ram_eff = 0.0 if idle else _ratio(v[RAM_USE_HOURS], v[RAM_REQ_HOURS] or v[RAM_HOURS])
    gpu_eff = 0.0 if idle else _ratio(v[GPU_USE_HOURS], v[GPU_REQ_HOURS])
    cpu_total, ram_total = v[CPU] + v[CPU_ADJ], v[RAM] + v[RAM_ADJ]
    total_eff = (
        (cpu_eff * cpu_total + ram_eff * ram_total) / (cpu_total + ram_total)
        if (cpu_total + ram_total) > 0
        else 0.0
    )
    values = {
        "name": _DUMPS(name),
        "properties": _DUMPS(_properties(a, fl, aggregate)),
        "window": window,
        "start": f'"{iso_ts(a.start)}"',
        "end": f'"{iso_ts(a.end)}"',
        "minutes": num((a.end - a.start) / 60.0),
        "cpuCores": num(v[CPU_HOURS] * per_h),
        "cpuCoreRequestAverage": num(v[CPU_REQ_HOURS] * per_h),
        "cpuCoreUsageAverage": num(v[CPU_USE_HOURS] * per_h),
        "cpuCoreHours": num(v[CPU_HOURS]),
        "cpuCost": money(v[CPU]),
        "cpuCostAdjustment": money(v[CPU_ADJ]),
        "cpuCostIdle": money(v[CPU_IDLE]),
        "cpuEfficiency": num(cpu_eff),
        "gpuCount": num(v[GPU_HOURS] * per_h),
        "gpuHours": num(v[GPU_HOURS]),
        "gpuCost": money(v[GPU]),
        "gpuCostIdle": money(v[GPU_IDLE]),
        "gpuCostAdjustment": money(v[GPU_ADJ]),
        "gpuRequestAverage": num(v[GPU_REQ_HOURS] * per_h),
        "gpuUsageAverage": num(v[GPU_USE_HOURS] * per_h),
        "gpuEfficiency": num(gpu_eff),
        "networkTransferBytes": num(v[NET_TX]),
        "networkReceiveBytes": num(v[NET_RX]),
        "networkCost": money(v[NET]),
        "networkCrossZoneCost": money(v[NET_ZONE]),
        "networkCrossRegionCost": money(v[NET_REGION]),
        "networkInternetCost": money(v[NET_INTERNET]),
        "networkCostAdjustment": money(v[NET_ADJ]),
        "loadBalancerCost": money(v[LB]),
        "loadBalancerCostAdjustment": money(v[LB_ADJ]),
        "pvBytes": num(v[PV_HOURS] * per_h),
        "pvByteHours": num(v[PV_HOURS]),
        "pvCost": money(v[PV]),
        "pvs": _pvs(a.pvs, nums),
        "pvCostAdjustment": money(v[PV_ADJ]),
        "ramBytes": num(v[RAM_HOURS] * per_h),
        "ramByteRequestAverage": num(v[RAM_REQ_HOURS] * per_h),
        "ramByteUsageAverage": num(v[RAM_USE_HOURS] * per_h),
        "ramByteHours": num(v[RAM_HOURS]),
        "ramCost": money(v[RAM]),
        "ramCostAdjustment": money(v[RAM_ADJ]),
        "ramCostIdle": money(v[RAM_IDLE]),
        "ramEfficiency": num(ram_eff),
        "externalCost": money(v[EXTERNAL]),
        "sharedCost": money(v[SHARED]),
        "totalCost": money(total_ticks(v)),
        "totalEfficiency": num(total_eff),
        "rawAllocationOnly": (
            f'{{"cpuCoreUsageMax":{a.raw[0]!r},"ramByteUsageMax":{a.raw[1]!r}}}'
            if a.raw and (raw or fl.raw_aggregated)
            else "null"
        ),
        "proportionalAssetResourceCosts": "{}",
        "lbAllocations": _lbs(a.lbs, nums),
        "sharedCostBreakdown": "{}",
        "gpuAllocation": (
            f'{{"gpuRequestAverage":{num(v[GPU_REQ_HOURS] * per_h)},'
            f'"gpuUsageAverage":{num(v[GPU_USE_HOURS] * per_h)},'
            f'"isGPUShared":false}}'
        ),
    }
    if nulls:
        for f in nulls:
            values[f] = "null"
    omit_raw = fl.name == "opencost" and values["rawAllocationOnly"] == "null"
    return _template(fl, omit_raw).format_map(values)


@functools.cache
def _template(fl: Flavour, omit_raw: bool) -> str:
    """``{name}:{"name":{name},...}`` for ``str.format_map``: one C call per record."""
    fields = [f for f in fl.fields if not (omit_raw and f == "rawAllocationOnly")]
    body = ",".join(f'"{f}":{{{f}}}' for f in fields)
    return "{name}:{{" + body + "}}"


def _pvs(pvs: dict | None, nums: Numbers) -> str:
    if not pvs:
        return "null"
    items = []
    for k, pv in pvs.items():
        items.append(
            f'{_DUMPS(k)}:{{"byteHours":{pv["byteHours"]!r},'
            f'"cost":{nums.money(pv["cost"])},"providerID":{_DUMPS(pv["providerID"])},'
            f'"adjustment":{nums.money(pv["adjustment"])}}}'
        )
    return "{" + ",".join(items) + "}"


def _lbs(lbs: dict | None, nums: Numbers) -> str:
    if not lbs:
        return "null"
    items = []
    for k, lb in lbs.items():
        items.append(
            f'{_DUMPS(k)}:{{"service":{_DUMPS(lb["service"])},'
            f'"cost":{nums.money(lb["cost"])},"private":false,"ip":{_DUMPS(lb["ip"])},'
            f'"hours":{nums.num(lb["hours"])},"adjustment":{nums.money(0)}}}'
        )
    return "{" + ",".join(items) + "}"


@functools.lru_cache(maxsize=4096)
def iso_ts(t: float) -> str:
    return iso(datetime.fromtimestamp(round(t), UTC))


def window_json(start: float, end: float) -> str:
    return f'{{"start":"{iso_ts(start)}","end":"{iso_ts(end)}"}}'


# --- assets ---------------------------------------------------------------------------------


def _breakdown(idle: float) -> str:
    return (
        f'{{"idle":{idle!r},"other":0,"system":{(1 - idle) * 0.2!r},"user":{(1 - idle) * 0.8!r}}}'
    )


def asset_json(key: str, a: Asset, window: str, fl: Flavour) -> str:
    """One ``"<key>": {...}`` member of an asset set (numbers always ``%f``)."""
    n = a.nums
    props = {k: v for k, v in a.props.items() if v}
    labels = a.labels
    if a.type == "Node" and fl.node_label_prefix:
        labels = {fl.node_label_prefix + k: v for k, v in labels.items()}
    head = [
        f'"type":"{a.type}"',
        f'"properties":{_DUMPS(props)}',
        f'"labels":{_DUMPS(labels)}',
        f'"window":{window}',
        f'"start":"{iso_ts(a.start)}"',
        f'"end":"{iso_ts(a.end)}"',
        f'"minutes":{f6(n["minutes"])}',
    ]
    adj = ticks_text(a.adjustment, six=True)
    total = ticks_text(a.total_ticks, six=True)
    if a.type == "Node":
        t = a.ticks
        body = [
            f'"nodeType":{_DUMPS(a.extra["nodeType"])}',
            f'"pool":{_DUMPS(a.extra["pool"])}',
            f'"cpuCores":{f6(n["cpuCores"])}',
            f'"ramBytes":{f6(n["ramBytes"])}',
            f'"cpuCoreHours":{f6(n["cpuCoreHours"])}',
            f'"ramByteHours":{f6(n["ramByteHours"])}',
            f'"GPUHours":{f6(n["GPUHours"])}',
            f'"cpuBreakdown":{_breakdown(n["cpuIdle"])}',
            f'"ramBreakdown":{_breakdown(n["ramIdle"])}',
            f'"preemptible":{f6(n["preemptible"])}',
            f'"discount":{f6(n["discount"])}',
            f'"cpuCost":{ticks_text(t["cpuCost"], True)}',
            f'"gpuCost":{ticks_text(t["gpuCost"], True)}',
            f'"gpuCount":{f6(n["gpuCount"])}',
            f'"ramCost":{ticks_text(t["ramCost"], True)}',
            f'"adjustment":{adj}',
            '"overhead":{"CpuOverheadFraction":0.06,"RamOverheadFraction":0.09,'
            '"OverheadCostFraction":0.07}',
            f'"totalCost":{total}',
        ]
    elif a.type == "Disk":
        e = a.extra
        body = [
            f'"byteHours":{f6(n["byteHours"])}',
            f'"bytes":{f6(n["bytes"])}',
            f'"byteHoursUsed":{f6(n["byteHoursUsed"])}',
            f'"byteUsageMax":{f6(n["byteUsageMax"])}',
            f'"breakdown":{_breakdown(n["idle"])}',
            f'"adjustment":{adj}',
            f'"totalCost":{total}',
            f'"storageClass":{_DUMPS(e["storageClass"])}',
            f'"volumeName":{_DUMPS(e["volumeName"])}',
            f'"claimName":{_DUMPS(e["claimName"])}',
            f'"claimNamespace":{_DUMPS(e["claimNamespace"])}',
        ]
    elif a.type == "LoadBalancer":
        body = [
            f'"adjustment":{adj}',
            f'"totalCost":{total}',
            '"private":false',
            f'"ip":{_DUMPS(a.extra["ip"])}',
        ]
    else:  # ClusterManagement has no adjustment key
        body = [f'"totalCost":{total}']
    return f"{_DUMPS(key)}:{{{','.join(head + body)}}}"
