"""Airbyte source for Kubecost 1.x/2.x and OpenCost cost allocation, assets and clusters."""

from typing import Any

__all__ = ["SourceKubecost"]


def __getattr__(name: str) -> Any:
    # Lazy: `source-kubecost read` starts its day workers before the CDK is imported.
    if name == "SourceKubecost":
        from source_kubecost.source import SourceKubecost

        return SourceKubecost
    raise AttributeError(name)
