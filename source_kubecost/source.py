"""The Kubecost/OpenCost source: spec (spec.yaml), check, and three streams."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airbyte_cdk.models import AirbyteConnectionStatus, Status
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.streams import Stream

from source_kubecost.client import KubecostClient
from source_kubecost.config import parse_config
from source_kubecost.days import AllocationDays, AssetDays
from source_kubecost.errors import (
    ApiNotFound,
    ConfigError,
    ConnectFailed,
    NotTheApi,
    RetriesExhausted,
)
from source_kubecost.streams import Allocations, Assets, Clusters, airbyte_errors

if TYPE_CHECKING:
    from source_kubecost.output import DirectOutput
    from source_kubecost.workers import DayWorkers


class SourceKubecost(AbstractSource):
    """`sink` copies finished days to the output (`source-kubecost`, output.py); without one
    the day streams yield records to the CDK. `workers` read days ahead (workers.py)."""

    def __init__(self, sink: DirectOutput | None = None, workers: DayWorkers | None = None):
        super().__init__()
        self.sink, self.workers = sink, workers

    def configure(self, config: Mapping[str, Any], temp_dir: str) -> Mapping[str, Any]:
        """The CDK's default writes the config, secrets included, into a temporary directory
        that a killed sync leaves behind; nothing here reads it back."""
        return config

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        ok, message = self.check_connection(logger, config)
        return AirbyteConnectionStatus(
            status=Status.SUCCEEDED if ok else Status.FAILED, message=message
        )

    def check_connection(
        self, logger: logging.Logger, config: Mapping[str, Any]
    ) -> tuple[bool, Any]:
        """One bounded clusterInfo request per candidate path, with a diagnosis on failure."""
        with airbyte_errors():
            settings = parse_config(config)
        client = KubecostClient(settings)
        candidates = [settings.model_prefix] if settings.model_prefix is not None else [True, False]
        problems = []
        for model in candidates:
            url = client.url("clusterInfo", model)
            try:
                client.get_json("clusterInfo", {}, "cluster info", model=model, attempts=1)
                return True, None
            except (ApiNotFound, NotTheApi) as error:
                problems.append(f"{url}: {error.message}")
            except ConfigError as error:
                return False, error.message
            except RetriesExhausted as error:
                if isinstance(error.last, ConnectFailed):
                    return False, (
                        f"Cannot reach {url} ({error.last.reason}). Check the host name and "
                        "port, and that the Airbyte workers can reach the cluster (service "
                        "DNS, network policy, ingress or port-forward)."
                    )
                problems.append(f"{url}: {error.last.cause}")
        return False, (
            f"{settings.base_url} does not look like the Kubecost or OpenCost API ("
            + "; ".join(problems)
            + "). Point the URL at the API: Kubecost's cost-analyzer on port 9090 "
            "(e.g. http://kubecost-cost-analyzer.kubecost:9090) or OpenCost on port 9003, "
            "not at the UI, a login page or another service."
        )

    def streams(self, config: Mapping[str, Any]) -> list[Stream]:
        with airbyte_errors():
            settings = parse_config(config)
        client = KubecostClient(settings)  # one per sync: the API path is detected once
        return [
            Allocations(AllocationDays(client, settings), self.sink, self.workers),
            Assets(AssetDays(client, settings), self.sink, self.workers),
            Clusters(client),
        ]
