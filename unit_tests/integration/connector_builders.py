"""Config, request and response builders for the mock-server tests (source-stripe's grammar),
and `read_stream`: a sync through the connector's production path, in this process."""

from __future__ import annotations

import copy
import json
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson
from airbyte_cdk.models import (
    AirbyteStateMessageSerializer,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteCatalogSerializer,
    SyncMode,
)
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput
from airbyte_cdk.test.mock_http import HttpRequest, HttpResponse
from airbyte_cdk.test.state_builder import StateBuilder
from mock_server import MockServer

from source_kubecost.run import run

_RESPONSES = Path(__file__).parent.parent / "resource" / "http" / "response"


def template(name: str) -> dict[str, Any]:
    return json.loads((_RESPONSES / f"{name}.json").read_text())


class ConfigBuilder:
    def __init__(self) -> None:
        self._config: dict[str, Any] = {
            "url": MockServer.url(),
            "flavour": "kubecost",
            "start_date": "2024-05-01",
            "lookback_days": 0,
        }

    def with_start_date(self, day: str) -> ConfigBuilder:
        self._config["start_date"] = day
        return self

    def with_values(self, **values: Any) -> ConfigBuilder:
        self._config.update(values)
        return self

    def build(self) -> dict[str, Any]:
        return copy.deepcopy(self._config)


def window(day: str) -> str:
    start = date.fromisoformat(day)
    return f"{day}T00:00:00Z,{(start + timedelta(days=1)).isoformat()}T00:00:00Z"


class KubecostRequestBuilder:
    """Exact requests: the mock fails on any request it was not told about."""

    def __init__(self, path: str, params: dict[str, str]):
        self._path, self._params = path, params

    @classmethod
    def allocations_endpoint(cls, prefix: str = "/model") -> KubecostRequestBuilder:
        return cls(
            f"{prefix}/allocation",
            {
                "aggregate": "cluster,node,namespace,controllerKind,controller,pod,container",
                "accumulate": "true",
                "step": "1d",
                "idle": "true",
                "includeIdle": "true",
                "shareIdle": "false",
                "splitIdle": "true",
                "idleByNode": "false",
                "shareNamespaces": "",
                "shareLabels": "",
                "shareTenancyCosts": "true",
                "reconcile": "true",
            },
        )

    @classmethod
    def assets_endpoint(cls, prefix: str = "/model") -> KubecostRequestBuilder:
        return cls(f"{prefix}/assets", {"accumulate": "true", "step": "1d"})

    @classmethod
    def endpoint(cls, path: str) -> KubecostRequestBuilder:
        return cls(path, {})

    def with_window(self, day: str) -> KubecostRequestBuilder:
        return self.with_params(window=window(day))

    def with_params(self, **params: str) -> KubecostRequestBuilder:
        self._params = {**self._params, **params}
        return self

    def build(self) -> HttpRequest:
        return HttpRequest(f"{MockServer.url()}{self._path}", query_params=self._params or None)


def an_allocation(name: str | None = None, **fields: Any) -> dict:
    record = copy.deepcopy(template("allocations")["data"][0]["__template__"])
    record["name"] = name or record["name"]
    record.update(fields)
    return record


class ResponseBuilder:
    """`{"code": 200, "data": [ {name: record} ]}`, or OpenCost's single map."""

    def __init__(self, single_map: bool = False) -> None:
        self._records: dict[str, dict] = {}
        self._single_map = single_map
        self._extra: dict[str, Any] = {}

    def with_record(self, record: dict, key: str | None = None) -> ResponseBuilder:
        self._records[key or record["name"]] = record
        return self

    def with_envelope(self, **extra: Any) -> ResponseBuilder:
        self._extra.update(extra)
        return self

    def build(self, status_code: int = 200) -> HttpResponse:
        data: Any = self._records if self._single_map else [self._records]
        body = {"code": 200, "status": "success", "data": data, **self._extra}
        return HttpResponse(json.dumps(body), status_code)


def allocations_response() -> ResponseBuilder:
    return ResponseBuilder()


def error_response(name: str, status_code: int, headers: dict | None = None) -> HttpResponse:
    return HttpResponse((_RESPONSES / name).read_text(), status_code, headers or {})


def catalog(stream: str, mode: SyncMode = SyncMode.incremental) -> ConfiguredAirbyteCatalog:
    return CatalogBuilder().with_stream(stream, mode).build()


def read_stream(
    stream: str,
    config: dict[str, Any],
    state: dict | None = None,
    mode: SyncMode = SyncMode.incremental,
    expecting_exception: bool = False,
) -> EntrypointOutput:
    """`source-kubecost read` in this process: day workers, records copied to the output."""
    states = StateBuilder().with_stream_state(stream, state).build() if state else None
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "config.json").write_text(json.dumps(config))
        dumped = ConfiguredAirbyteCatalogSerializer.dump(catalog(stream, mode))
        (folder / "catalog.json").write_bytes(orjson.dumps(dumped))
        args = ["read", "--config", f"{tmp}/config.json", "--catalog", f"{tmp}/catalog.json"]
        if states:
            dumped_states = [AirbyteStateMessageSerializer.dump(s) for s in states]
            (folder / "state.json").write_bytes(orjson.dumps(dumped_states))
            args += ["--state", f"{tmp}/state.json"]
        return run_in_process(args, folder / "output.jsonl", expecting_exception)


def run_in_process(
    args: list[str], output: Path, expecting_exception: bool = False
) -> EntrypointOutput:
    """`source-kubecost <args>` run here (`run.run`), its output parsed by the CDK."""
    error = None
    with open(output, "w") as out:
        try:
            run(args, out)
        except Exception as raised:
            if not expecting_exception:
                raise
            error = raised
    lines = [line for line in output.read_text().splitlines() if line]
    parsed = EntrypointOutput(messages=lines, uncaught_exception=error)
    parsed.lines = lines  # type: ignore[attr-defined] # the bytes as written
    return parsed
