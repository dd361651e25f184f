"""The Kubecost/OpenCost source: spec (spec.yaml), check, and three streams."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from airbyte_cdk.models import AirbyteConnectionStatus, Status
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.streams import Stream

from source_kubecost.client import KubecostClient, Transient
from source_kubecost.config import parse_config
from source_kubecost.days import AllocationDays, AssetDays
from source_kubecost.errors import CONFIG, KubecostError
from source_kubecost.streams import Allocations, Assets, Clusters, airbyte_errors


class SourceKubecost(AbstractSource):
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
            except KubecostError as error:
                cause = error.__cause__
                if isinstance(cause, Transient) and cause.cause.startswith("cannot connect"):
                    return False, (
                        f"Cannot reach {url} ({cause.cause.rsplit('(', 1)[-1].rstrip(')')}). "
                        "Check the host name and port, and that the Airbyte workers can reach "
                        "the cluster (service DNS, network policy, ingress or port-forward)."
                    )
                if error.failure_type == CONFIG and "(HTTP 404)" not in str(error.message):
                    return False, error.message
                detail = cause.cause if isinstance(cause, Transient) else error.message
                problems.append(f"{url}: {detail}")
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
        client = KubecostClient(settings)
        return [
            Allocations(AllocationDays(client, settings)),
            Assets(AssetDays(client, settings)),
            Clusters(client),
        ]
