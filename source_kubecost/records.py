"""Flattening of Kubecost allocation and asset objects into analyst-friendly records.

Kubecost field names are kept (`cpuCost`, `controllerKind`, ...); fields this connector adds
are snake_case. Unknown fields from newer Kubecost versions pass through unchanged.
"""

from __future__ import annotations

import math
from typing import Any

ALLOCATION_NUMBERS = (
    "minutes",
    *(
        f"cpu{s}"
        for s in (
            "Cores",
            "CoreHours",
            "CoreRequestAverage",
            "CoreUsageAverage",
            "Cost",
            "CostAdjustment",
            "CostIdle",
            "Efficiency",
        )
    ),
    *(
        f"gpu{s}"
        for s in (
            "Count",
            "Hours",
            "RequestAverage",
            "UsageAverage",
            "Cost",
            "CostAdjustment",
            "CostIdle",
            "Efficiency",
        )
    ),
    *(
        f"ram{s}"
        for s in (
            "Bytes",
            "ByteHours",
            "ByteRequestAverage",
            "ByteUsageAverage",
            "Cost",
            "CostAdjustment",
            "CostIdle",
            "Efficiency",
        )
    ),
    "pvBytes",
    "pvByteHours",
    "pvCost",
    "pvCostAdjustment",
    "networkTransferBytes",
    "networkReceiveBytes",
    "networkCost",
    "networkCostAdjustment",
    "networkCrossZoneCost",
    "networkCrossRegionCost",
    "networkInternetCost",
    "loadBalancerCost",
    "loadBalancerCostAdjustment",
    "sharedCost",
    "externalCost",
    "totalCost",
    "totalEfficiency",
)
ASSET_NUMBERS = (
    "minutes",
    "adjustment",
    "totalCost",
    "cost",
    "credit",
    "cpuCores",
    "ramBytes",
    "cpuCoreHours",
    "ramByteHours",
    "GPUHours",
    "gpuCount",
    "cpuCost",
    "gpuCost",
    "ramCost",
    "discount",
    "preemptible",
    "bytes",
    "byteHours",
    "byteHoursUsed",
    "byteUsageMax",
)
_ALLOCATION_NUMBER_SET = frozenset(ALLOCATION_NUMBERS)
_ASSET_NUMBER_SET = frozenset(ASSET_NUMBERS)
# Kubecost docs of 2021 show singular property names; later versions use the plural.
_LEGACY_PROPERTIES = (("label", "labels"), ("annotation", "annotations"), ("service", "services"))


def to_number(value: Any) -> float | None:
    """A string float from old Kubecost versions ("0.000426") as a number; NaN/Inf as null."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _numbers(record: dict[str, Any], numeric: frozenset[str]) -> None:
    for key, value in record.items():
        if value.__class__ is str and key in numeric:
            record[key] = to_number(value)


def _flatten(key: str, obj: Any, what: str) -> dict[str, Any]:
    """The object, changed in place (it was just parsed): without `properties` and `window`,
    its properties lifted to the top."""
    if obj.__class__ is not dict:
        raise TypeError(f"{what} {key!r} is a {type(obj).__name__}, not an object")
    record: dict[str, Any] = obj
    record.pop("window", None)
    properties = record.pop("properties", None)
    if properties:
        record.update(properties)
    return record


class AllocationFlattener:
    """`transform(key, allocation)` for one aggregate: properties first, else the name. The
    allocation is changed into the record.

    Hot path (one call per record): fields absent or null are simply left out, as the
    Airbyte serializer drops nulls anyway.
    """

    def __init__(self, aggregate: str):
        self.levels = tuple(aggregate.split(","))

    def __call__(self, key: str, allocation: Any) -> dict[str, Any]:
        record = _flatten(key, allocation, "allocation")
        for old, new in _LEGACY_PROPERTIES:
            if old in record:
                value = record.pop(old)
                record.setdefault(new, value)
        name = record.get("name") or key
        record["name"] = name
        levels = self.levels
        if None in map(record.get, levels):  # not any(<genexpr>): this runs once per record
            parts = name.split("/")
            if len(parts) == len(levels):
                for level, part in zip(levels, parts, strict=True):
                    if record.get(level) is None and part and not part.startswith("__"):
                        record[level] = part.split(":", 1)[-1] if level == "controller" else part
        # Kubecost before v1.101 wrote every float as a string ("0.000426").
        if record.get("totalCost").__class__ is str or record.get("cpuCost").__class__ is str:
            _numbers(record, _ALLOCATION_NUMBER_SET)
        record["is_idle"] = "__idle__" in name
        record["is_unallocated"] = "__unallocated__" in name
        record["is_unmounted"] = "__unmounted__" in name
        return record


def flatten_asset(key: str, asset: Any) -> dict[str, Any]:
    """`transform(key, asset)`: properties lifted to the top, the asset key kept as `key`. The
    asset is changed into the record."""
    record = _flatten(key, asset, "asset")
    record["key"] = key
    _numbers(record, _ASSET_NUMBER_SET)
    return record
