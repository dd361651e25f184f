"""Mock-server tests of the allocations stream (production path; unmatched requests fail)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from unittest import TestCase, mock

import freezegun
import pytest
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.sources.utils.record_helper import stream_data_to_airbyte_message
from airbyte_cdk.test.mock_http import HttpResponse
from connector_builders import (
    ConfigBuilder,
    KubecostRequestBuilder,
    allocations_response,
    an_allocation,
    error_response,
    read_stream,
)
from mock_server import MockServer

_STREAM_NAME = "allocations"
_NOW = datetime(2024, 5, 4, 10, 0, tzinfo=UTC)
_A_START_DATE = "2024-05-01"


def _request(day: str):
    return KubecostRequestBuilder.allocations_endpoint().with_window(day).build()


def _ok(*names: str | None) -> HttpResponse:
    response = allocations_response()
    for name in names or [None]:
        response.with_record(an_allocation(name))
    return response.build()


def _config(**values):
    return ConfigBuilder().with_start_date(_A_START_DATE).with_values(**values).build()


@freezegun.freeze_time(_NOW.isoformat())
@mock.patch.dict("os.environ", {"SOURCE_KUBECOST_BACKOFF_SECONDS": "0"})
class FullRefreshTest(TestCase):
    @MockServer()
    def test_given_three_finished_days_when_read_then_one_request_per_day_and_flat_records(
        self, mock_server: MockServer
    ) -> None:
        for day in ("2024-05-01", "2024-05-02", "2024-05-03"):
            mock_server.get(_request(day), _ok())
        output = read_stream(_STREAM_NAME, _config(), mode=SyncMode.full_refresh)
        assert len(output.records) == 3
        record = output.records[0].record.data
        assert record["window_start"] == "2024-05-01T00:00:00Z"
        assert record["window_end"] == "2024-05-02T00:00:00Z"
        assert (record["cluster"], record["node"], record["namespace"]) == (
            "c1",
            "node-a",
            "team-x",
        )
        assert (record["controllerKind"], record["controller"]) == ("deployment", "api")
        assert (record["pod"], record["container"]) == ("api-7d9c-abcde", "api")
        assert record["services"] == ["api-svc"] and record["labels"]["app"] == "api"
        assert record["totalCost"] == 0.47 and record["cpuCostAdjustment"] == -0.03
        assert record["granularity"] == "container" and record["idle_policy"] == "separate"
        assert record["query_settings"]["shareIdle"] == "false"
        assert "properties" not in record and "window" not in record
        assert record["is_idle"] is False

    @MockServer()
    def test_given_idle_unallocated_and_unmounted_rows_when_read_then_flags_are_set(
        self, mock_server: MockServer
    ) -> None:
        names = [
            "c1/__idle__",
            "c1//__unmounted__/__unmounted__/__unmounted__",
            "c1/x/__unallocated__",
        ]
        mock_server.get(_request("2024-05-01"), _ok(*names))
        output = read_stream(_STREAM_NAME, _config(end_date="2024-05-01"))
        flags = {
            r.record.data["name"]: (
                r.record.data["is_idle"],
                r.record.data["is_unmounted"],
                r.record.data["is_unallocated"],
            )
            for r in output.records
        }
        assert flags == {
            names[0]: (True, False, False),
            names[1]: (False, True, False),
            names[2]: (False, False, True),
        }

    @MockServer()
    def test_given_string_floats_and_new_fields_when_read_then_numbers_and_passthrough(
        self, mock_server: MockServer
    ) -> None:
        old = an_allocation(cpuCost="0.000426", ramCost="NaN", gpuCost=None, futureField={"x": 1})
        mock_server.get(_request("2024-05-01"), allocations_response().with_record(old).build())
        output = read_stream(_STREAM_NAME, _config(end_date="2024-05-01"))
        record = output.records[0].record.data
        assert record["cpuCost"] == 0.000426
        # null fields are left out of the message by the CDK's serializer
        assert record.get("ramCost") is None and record.get("gpuCost") is None
        assert record["futureField"] == {"x": 1}
        assert output.is_in_logs(r"^allocations: 1 records of 1 day copied to the output$")

    @MockServer()
    def test_given_properties_missing_when_read_then_levels_parsed_from_name(
        self, mock_server: MockServer
    ) -> None:
        bare = an_allocation("c9/node-z/ns/deployment/deployment:web/web-1/nginx", properties={})
        mock_server.get(_request("2024-05-01"), allocations_response().with_record(bare).build())
        output = read_stream(_STREAM_NAME, _config(end_date="2024-05-01"))
        record = output.records[0].record.data
        assert (record["cluster"], record["namespace"], record["controller"]) == ("c9", "ns", "web")
        assert (record["pod"], record["container"]) == ("web-1", "nginx")

    @MockServer()
    def test_given_namespace_granularity_and_sharing_when_read_then_params_are_explicit(
        self, mock_server: MockServer
    ) -> None:
        request = (
            KubecostRequestBuilder.allocations_endpoint()
            .with_window("2024-05-01")
            .with_params(
                aggregate="cluster,namespace",
                shareIdle="true",
                splitIdle="false",
                shareNamespaces="kube-system,kubecost",
                shareLabels="env:staging",
                shareTenancyCosts="false",
                reconcile="false",
                filter='namespace!:"default"',
            )
            .build()
        )
        mock_server.get(request, _ok("c1/team-x"))
        config = _config(
            end_date="2024-05-01",
            granularity="namespace",
            idle_policy="shared",
            share_namespaces=["kube-system", "kubecost"],
            share_labels=["env:staging"],
            share_tenancy_costs=False,
            reconcile=False,
            filter='namespace!:"default"',
        )
        output = read_stream(_STREAM_NAME, config)
        # request matched the mock server
        record = output.records[0].record.data
        assert record["aggregate"] == "cluster,namespace" and record["idle_policy"] == "shared"

    @MockServer()
    def test_given_401_when_read_then_config_error(self, mock_server: MockServer) -> None:
        mock_server.get(_request("2024-05-01"), error_response("401.json", 401))
        output = read_stream(_STREAM_NAME, _config(end_date="2024-05-01"), expecting_exception=True)
        error = output.errors[0].trace.error
        assert error.failure_type == FailureType.config_error
        assert "credentials" in error.message

    @MockServer()
    def test_given_400_when_read_then_config_error_names_filter(
        self, mock_server: MockServer
    ) -> None:
        mock_server.get(_request("2024-05-01"), error_response("400.json", 400))
        output = read_stream(_STREAM_NAME, _config(end_date="2024-05-01"), expecting_exception=True)
        error = output.errors[0].trace.error
        assert error.failure_type == FailureType.config_error
        assert "invalid filter" in error.message and "filter expression" in error.message

    @MockServer()
    def test_given_429_then_200_when_read_then_retried_after_retry_after(
        self, mock_server: MockServer
    ) -> None:
        mock_server.get(
            _request("2024-05-01"),
            [error_response("429.json", 429, {"Retry-After": "7"}), _ok("c1/a")],
        )
        with mock.patch("source_kubecost.client.time.sleep"):  # in the forked day worker too
            output = read_stream(_STREAM_NAME, _config(end_date="2024-05-01"))
        assert len(output.records) == 1
        assert output.is_in_logs(r"allocations for 2024-05-01: HTTP 429 .*; retry 1 of 5 in 7\.0 s")

    @MockServer()
    def test_given_500_html_504_and_json_code_503_then_200_when_read_then_retried(
        self, mock_server: MockServer
    ) -> None:
        mock_server.get(
            _request("2024-05-01"),
            [
                error_response("500.json", 500),
                error_response("504.html", 504),
                error_response("200_code_503.json", 200),
                _ok("c1/a"),
            ],
        )
        output = read_stream(_STREAM_NAME, _config(end_date="2024-05-01"))
        assert [r.record.data["name"] for r in output.records] == ["c1/a"]

    @MockServer()
    def test_given_an_html_page_with_http_200_when_read_then_config_error_without_retries(
        self, mock_server: MockServer
    ) -> None:
        login = HttpResponse("<html><body><form action='/login'>Sign in</form></body></html>")
        mock_server.get(_request("2024-05-01"), login)  # exactly one request: no retry
        output = read_stream(_STREAM_NAME, _config(end_date="2024-05-01"), expecting_exception=True)
        error = output.errors[0].trace.error
        assert error.failure_type == FailureType.config_error
        assert "HTML page (HTTP 200)" in error.message and "login page" in error.message
        assert output.records == []

    @MockServer()
    def test_given_persistent_500_when_read_then_error_names_day_and_cause(
        self, mock_server: MockServer
    ) -> None:
        mock_server.get(_request("2024-05-01"), [error_response("500.json", 500)] * 6)
        output = read_stream(_STREAM_NAME, _config(end_date="2024-05-01"), expecting_exception=True)
        error = output.errors[0].trace.error
        assert error.failure_type == FailureType.transient_error
        assert "allocations for 2024-05-01" in error.message and "HTTP 500" in error.message

    @MockServer()
    def test_given_malformed_day_when_read_then_no_record_of_it_and_error_has_position(
        self, mock_server: MockServer
    ) -> None:
        mock_server.get(_request("2024-05-01"), _ok("c1/a"))
        mock_server.get(_request("2024-05-02"), error_response("malformed.json", 200))
        output = read_stream(_STREAM_NAME, _config(end_date="2024-05-02"), expecting_exception=True)
        assert [r.record.data["window_start"] for r in output.records] == ["2024-05-01T00:00:00Z"]
        error = output.errors[0].trace.error
        assert error.failure_type == FailureType.system_error
        assert "2024-05-02" in error.message and "malformed" in error.message
        assert output.most_recent_state.stream_state.window_start == "2024-05-01T00:00:00Z"

    @MockServer()
    def test_given_page_size_when_read_then_pages_until_short_page_and_idle_deduplicated(
        self, mock_server: MockServer
    ) -> None:
        base = KubecostRequestBuilder.allocations_endpoint().with_window("2024-05-01")
        mock_server.get(
            base.with_params(offset="0", limit="2").build(), _ok("c1/a", "c1/b", "c1/__idle__")
        )
        mock_server.get(base.with_params(offset="2", limit="2").build(), _ok("c1/c", "c1/__idle__"))
        output = read_stream(_STREAM_NAME, _config(end_date="2024-05-01", page_size=2))
        names = [r.record.data["name"] for r in output.records]
        assert names == ["c1/a", "c1/b", "c1/__idle__", "c1/c"]


@freezegun.freeze_time(_NOW.isoformat())
@mock.patch.dict("os.environ", {"SOURCE_KUBECOST_BACKOFF_SECONDS": "0"})
class IncrementalTest(TestCase):
    @MockServer()
    def test_given_no_state_when_read_then_state_is_last_finished_day(
        self, mock_server: MockServer
    ) -> None:
        for day in ("2024-05-01", "2024-05-02", "2024-05-03"):
            mock_server.get(_request(day), _ok("c1/a"))
        output = read_stream(_STREAM_NAME, _config())
        assert output.most_recent_state.stream_state.window_start == "2024-05-03T00:00:00Z"
        states = [s.state.stream.stream_state.window_start for s in output.state_messages]
        assert states[:3] == [
            "2024-05-01T00:00:00Z",
            "2024-05-02T00:00:00Z",
            "2024-05-03T00:00:00Z",
        ]

    @MockServer()
    def test_given_state_and_lookback_when_read_then_lookback_days_reread(
        self, mock_server: MockServer
    ) -> None:
        # state 05-02, lookback 2: re-read 05-01 and 05-02, then read 05-03
        for day in ("2024-05-01", "2024-05-02", "2024-05-03"):
            mock_server.get(_request(day), _ok("c1/a"))
        output = read_stream(
            _STREAM_NAME, _config(lookback_days=2), state={"window_start": "2024-05-02T00:00:00Z"}
        )
        # request matched the mock server
        assert output.most_recent_state.stream_state.window_start == "2024-05-03T00:00:00Z"

    @MockServer()
    def test_given_current_day_included_when_read_then_partial_day_emitted_not_checkpointed(
        self, mock_server: MockServer
    ) -> None:
        mock_server.get(_request("2024-05-03"), _ok("c1/a"))
        mock_server.get(_request("2024-05-04"), _ok("c1/a"))
        output = read_stream(
            _STREAM_NAME,
            _config(include_current_day=True),
            state={"window_start": "2024-05-02T00:00:00Z"},
        )
        assert len(output.records) == 2
        assert output.most_recent_state.stream_state.window_start == "2024-05-03T00:00:00Z"

    @MockServer()
    def test_given_a_failing_day_when_read_then_state_stops_before_it(
        self, mock_server: MockServer
    ) -> None:
        mock_server.get(_request("2024-05-01"), _ok("c1/a"))
        mock_server.get(_request("2024-05-02"), error_response("401.json", 401))
        mock_server.may_get(_request("2024-05-03"), _ok("c1/a"))  # read ahead, then dropped
        output = read_stream(_STREAM_NAME, _config(), expecting_exception=True)
        assert output.most_recent_state.stream_state.window_start == "2024-05-01T00:00:00Z"

    @MockServer()
    def test_given_state_of_an_older_version_when_read_then_resumes_after_it(
        self, mock_server: MockServer
    ) -> None:
        mock_server.get(_request("2024-05-03"), _ok("c1/a"))
        older = {
            "state_type": "date-range",
            "slices": [{"start": "2024-04-01", "end": "2024-05-02T23:59:59Z"}],
        }
        output = read_stream(_STREAM_NAME, _config(), state=older)
        assert len(output.records) == 1

    @MockServer()
    def test_given_future_state_when_read_then_nothing_read_and_state_kept(
        self, mock_server: MockServer
    ) -> None:
        output = read_stream(
            _STREAM_NAME, _config(), state={"window_start": "2099-01-01T00:00:00Z"}
        )
        assert output.records == []
        assert output.most_recent_state.stream_state.window_start == "2099-01-01T00:00:00Z"


@freezegun.freeze_time(_NOW.isoformat())
class EmptyDayTest(TestCase):
    """A day Kubecost answers with no records emits nothing, is saved in the state as empty
    and read again at the next syncs while it is recent (an ETL gap that gets repaired)."""

    @MockServer()
    def test_given_an_empty_day_between_days_with_data_when_read_then_kept_as_empty(
        self, mock_server: MockServer
    ) -> None:
        mock_server.get(_request("2024-05-01"), _ok("c1/a"))
        mock_server.get(_request("2024-05-02"), allocations_response().build())
        mock_server.get(_request("2024-05-03"), _ok("c1/a"))
        output = read_stream(_STREAM_NAME, _config())
        assert [r.record.data["window_start"][:10] for r in output.records] == [
            "2024-05-01",
            "2024-05-03",
        ]
        state = output.most_recent_state.stream_state
        assert state.window_start == "2024-05-03T00:00:00Z"
        assert state.empty_days == ["2024-05-02"]
        assert output.is_in_logs("allocations 2024-05-02: no records")

    @MockServer()
    def test_given_a_remembered_empty_day_when_it_has_data_then_read_and_forgotten(
        self, mock_server: MockServer
    ) -> None:
        mock_server.get(_request("2024-05-01"), _ok("c1/late"))  # repaired since
        mock_server.get(_request("2024-05-03"), _ok("c1/a"))
        state = {"window_start": "2024-05-02T00:00:00Z", "empty_days": ["2024-05-01"]}
        output = read_stream(_STREAM_NAME, _config(), state=state)
        assert [r.record.data["name"] for r in output.records] == ["c1/late", "c1/a"]
        states = [s.state.stream.stream_state for s in output.state_messages]
        assert states[0].window_start == "2024-05-02T00:00:00Z"  # never moves backwards
        assert not hasattr(states[0], "empty_days")
        assert output.most_recent_state.stream_state.window_start == "2024-05-03T00:00:00Z"

    @MockServer()
    def test_given_an_empty_day_still_empty_or_too_old_when_read_then_kept_or_dropped(
        self, mock_server: MockServer
    ) -> None:
        mock_server.get(_request("2024-04-25"), allocations_response().build())  # still empty
        mock_server.get(_request("2024-05-03"), _ok("c1/a"))
        state = {
            "window_start": "2024-05-02T00:00:00Z",
            "empty_days": ["2024-04-01", "2024-04-25"],  # 04-01 is past the 15 days
        }
        output = read_stream(
            _STREAM_NAME, _config(start_date="2024-03-01"), state=state
        )  # request matched the mock server: 04-01 is not read again
        final = output.most_recent_state.stream_state
        assert (final.window_start, final.empty_days) == ("2024-05-03T00:00:00Z", ["2024-04-25"])

    @MockServer()
    def test_given_a_backfill_from_before_retention_when_synced_twice_then_leading_days_once(
        self, mock_server: MockServer
    ) -> None:
        """Days before Kubecost's retention answer empty: read once, never remembered."""
        start = date(2024, 3, 1)
        for n in range((date(2024, 5, 3) - start).days + 1):
            day = (start + timedelta(days=n)).isoformat()
            data = day >= "2024-04-15"
            mock_server.get(_request(day), _ok("c1/a") if data else allocations_response().build())
        first = read_stream(_STREAM_NAME, _config(start_date=start.isoformat()))
        final = first.most_recent_state.stream_state
        assert final.window_start == "2024-05-03T00:00:00Z" and not hasattr(final, "empty_days")
        with freezegun.freeze_time("2024-05-05T10:00:00Z"):
            mock_server.get(_request("2024-05-04"), _ok("c1/a"))  # only the new day
            second = read_stream(
                _STREAM_NAME,
                _config(start_date=start.isoformat()),
                state={"window_start": final.window_start},
            )
        assert second.most_recent_state.stream_state.window_start == "2024-05-04T00:00:00Z"


@freezegun.freeze_time(_NOW.isoformat())
def test_given_awkward_values_when_read_then_each_line_is_the_cdks_own_plain_json() -> None:
    """The copied RECORD lines are byte for byte what the CDK would print for the same data:
    strict JSON (no NaN or Infinity), nulls left out at the top level, unicode and large or
    tiny numbers as orjson writes them."""
    awkward = an_allocation(
        "c1/n/ns/deployment/deployment:wéb/wéb-1/ctr",
        cpuCost="0.000426",  # a string float of Kubecost < 1.101
        ramCost="NaN",
        gpuCost=None,
        pvCost=1e-7,
        networkCost=-0.0,
        totalCost=12345678901.25,
    )
    awkward["properties"]["labels"] = {"team": "naïve ☃", "empty": None, "quote": 'a"b'}
    with MockServer() as mock_server:
        mock_server.get(_request("2024-05-01"), allocations_response().with_record(awkward).build())
        output = read_stream(_STREAM_NAME, _config(end_date="2024-05-01"))
    [line] = [line for line in output.lines if line.startswith('{"type":"RECORD"')]
    parsed = json.loads(line, parse_constant=lambda name: pytest.fail(f"{name} in {line}"))
    data = parsed["record"]["data"]
    assert data["cpuCost"] == 0.000426 and "ramCost" not in data and "gpuCost" not in data
    assert data["labels"] == {"team": "naïve ☃", "empty": None, "quote": 'a"b'}
    message = stream_data_to_airbyte_message(_STREAM_NAME, data)
    assert message.record is not None
    message.record.emitted_at = parsed["record"]["emitted_at"]
    assert line == AirbyteEntrypoint.airbyte_message_to_string(message)
