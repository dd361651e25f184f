"""Land the Kubecost source's records in ClickHouse exactly as Airbyte's ClickHouse
destination v2 would: same tables, types, engines and `_airbyte_*` columns, with the Airbyte
state committed in ClickHouse after the records it covers.

    from kubecost_pipeline.landing import sync
    result = sync(source_config, "chdb:///tmp/ch", database="kubecost")
"""

from kubecost_pipeline.landing.errors import (
    CatalogError,
    LandingError,
    RecordError,
    SourceError,
)
from kubecost_pipeline.landing.settings import DEFAULT_DATABASE, default_clickhouse_url
from kubecost_pipeline.landing.sync import StreamResult, SyncResult, sync

__all__ = [
    "DEFAULT_DATABASE",
    "CatalogError",
    "LandingError",
    "RecordError",
    "SourceError",
    "StreamResult",
    "SyncResult",
    "default_clickhouse_url",
    "sync",
]
