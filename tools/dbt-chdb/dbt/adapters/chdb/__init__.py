"""dbt adapter `type: chdb`: dbt-clickhouse on embedded ClickHouse (chDB).

Everything but the connection is dbt-clickhouse's: macros dispatch to `clickhouse__*`
through the plugin's `dependencies`.
"""

from dbt.adapters.base import AdapterPlugin
from dbt.adapters.chdb.connections import ChdbConnectionManager, ChdbCredentials
from dbt.adapters.chdb.impl import ChdbAdapter
from dbt.include import chdb

Plugin = AdapterPlugin(
    adapter=ChdbAdapter,
    credentials=ChdbCredentials,
    include_path=chdb.PACKAGE_PATH,
    dependencies=["clickhouse"],
)

__all__ = ["ChdbAdapter", "ChdbConnectionManager", "ChdbCredentials", "Plugin"]
