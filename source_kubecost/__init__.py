"""Airbyte source for Kubecost 1.x/2.x and OpenCost cost allocation, assets and clusters."""

from source_kubecost.source import SourceKubecost

__all__ = ["SourceKubecost"]
