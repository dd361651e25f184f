"""The CloudTuner post-sync hook: dbt marts -> CloudTuner's MongoDB, MySQL and ClickHouse.

Usage::

    from kubecost_pipeline import post_sync

    config = post_sync.load_config("cloudtuner.secrets.toml")
    result = post_sync.project(config, dry_run=True)
    print(result.summary())

See docs/cloudtuner-hook.md for what it writes and why.
"""

from kubecost_pipeline.post_sync.config import HookConfig, load_config
from kubecost_pipeline.post_sync.errors import (
    ConfigError,
    LockBusyError,
    PostSyncError,
    ProjectionFailed,
    StoreError,
)
from kubecost_pipeline.post_sync.hook import ProjectionResult, Stores, open_stores, project

__all__ = [
    "ConfigError",
    "HookConfig",
    "LockBusyError",
    "PostSyncError",
    "ProjectionFailed",
    "ProjectionResult",
    "StoreError",
    "Stores",
    "load_config",
    "open_stores",
    "project",
]
