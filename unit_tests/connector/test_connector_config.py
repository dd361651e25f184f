"""Config validation: every bad value gets a config_error naming the value and the fix."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from source_kubecost.config import parse_config
from source_kubecost.days import parse_state_day
from source_kubecost.errors import CONFIG, KubecostError
from source_kubecost.records import ALLOCATION_NUMBERS, ASSET_NUMBERS

_TODAY = date(2024, 5, 10)
SCHEMAS = Path(__file__).resolve().parents[2] / "source_kubecost" / "schemas"


def _config(**values):
    return {"url": "http://kubecost.test:9090", "start_date": "2024-05-01", **values}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"url": "ftp://kubecost.test"}, "not an http(s) URL"),
        ({"url": "kubecost:9090"}, "not an http(s) URL"),
        ({"start_date": "01/05/2024"}, "Use the form YYYY-MM-DD"),
        ({"start_date": "2024-02-30"}, "not a calendar date"),
        ({"start_date": "2024-06-01"}, "in the future"),
        ({"end_date": "2024-04-01"}, "before `start_date`"),
        ({"granularity": "deployment"}, "Granularity 'deployment' is unknown"),
        ({"idle_policy": "weighted"}, "Idle policy 'weighted' is unknown"),
        ({"flavour": "kubecost3"}, "API flavour 'kubecost3' is unknown"),
        ({"lookback_days": -1}, "`lookback_days` is -1"),
        ({"request_timeout_seconds": 0}, "`request_timeout_seconds` is 0"),
        ({"ca_certificate": "not a pem"}, "not a PEM certificate"),
        ({"credentials": {"auth_type": "header", "header_name": ""}}, "needs a header name"),
        ({"credentials": {"auth_type": "oauth"}}, "Authentication type 'oauth' is unknown"),
        ({"url": "http://kubecost.test:99999"}, "'http://kubecost.test:99999' is not a valid URL"),
        ({"url": "http://kubecost.test:abc"}, "'http://kubecost.test:abc' is not a valid URL"),
        ({"url": "http://[::1"}, "'http://[::1' is not a valid URL"),
        ({"url": "http://[::1]:9090x/model"}, "is not a valid URL"),
    ],
)
def test_given_bad_value_when_parsed_then_config_error_names_it(values, message) -> None:
    with pytest.raises(KubecostError) as raised:
        parse_config(_config(**values), today=_TODAY)
    assert raised.value.failure_type == CONFIG
    assert message in raised.value.message


def test_given_url_with_model_when_parsed_then_prefix_kept_and_ipv6_literal_rebuilt() -> None:
    settings = parse_config(_config(url="https://kubecost.test/model/", flavour="opencost"))
    assert settings.base_url == "https://kubecost.test" and settings.model_prefix is True
    ipv6 = parse_config(_config(url="http://[fd00::1]:9090/"), today=_TODAY)
    assert ipv6.base_url == "http://[fd00::1]:9090" and ipv6.model_prefix is None


@pytest.mark.parametrize(
    "url",
    ["https://ann:s3cr3t@kubecost.test/model", "http://s3cr3t@kubecost.test:9090", "http://[::1"],
)
def test_given_credentials_in_the_url_when_parsed_then_refused_without_echoing_them(url) -> None:
    with pytest.raises(KubecostError) as raised:
        parse_config(_config(url=url.replace("[::1", "ann:s3cr3t@[::1")), today=_TODAY)
    assert raised.value.failure_type == CONFIG
    assert "s3cr3t" not in raised.value.message and "ann" not in raised.value.message
    if "[" not in url:
        assert "Basic (username and password)" in raised.value.message


@pytest.mark.parametrize(
    "credentials",
    [
        {"auth_type": "bearer", "token": "abc\ndef"},
        {"auth_type": "bearer", "token": "abc\n"},
        {"auth_type": "cookie", "token": "abc\r\n"},
        {"auth_type": "header", "header_name": "X-Key", "header_value": "v\n"},
        {"auth_type": "basic", "username": "ann", "password": "pw\n"},
    ],
)
def test_given_a_secret_with_a_line_break_when_parsed_then_auth_config_error(credentials) -> None:
    with pytest.raises(KubecostError) as raised:
        parse_config(_config(credentials=credentials), today=_TODAY)
    assert raised.value.failure_type == CONFIG
    assert "line break" in raised.value.message and "abc" not in raised.value.message


@pytest.mark.parametrize(
    ("credentials", "headers", "auth"),
    [
        ({"auth_type": "none"}, {}, None),
        ({"auth_type": "basic", "username": "u", "password": "p"}, {}, ("u", "p")),
        ({"auth_type": "bearer", "token": "t"}, {"Authorization": "Bearer t"}, None),
        ({"auth_type": "cookie", "token": "t"}, {"Cookie": "token=t"}, None),
        (
            {"auth_type": "cookie", "token": "t", "cookie_name": "id_token"},
            {"Cookie": "id_token=t"},
            None,
        ),
        (
            {"auth_type": "header", "header_name": "X-Key", "header_value": "v"},
            {"X-Key": "v"},
            None,
        ),
    ],
)
def test_given_auth_mode_when_parsed_then_headers(credentials, headers, auth) -> None:
    settings = parse_config(_config(credentials=credentials), today=_TODAY)
    assert (dict(settings.headers), settings.auth) == (headers, auth)


@pytest.mark.parametrize(
    ("granularity", "aggregate"),
    [
        ("cluster", "cluster"),
        ("node", "cluster,node"),
        ("namespace", "cluster,namespace"),
        ("controller", "cluster,namespace,controllerKind,controller"),
        ("pod", "cluster,node,namespace,controllerKind,controller,pod"),
        ("container", "cluster,node,namespace,controllerKind,controller,pod,container"),
    ],
)
def test_given_granularity_when_parsed_then_multi_level_aggregate(granularity, aggregate) -> None:
    settings = parse_config(_config(granularity=granularity), today=_TODAY)
    assert settings.allocation_params()["aggregate"] == aggregate
    assert settings.query_settings["aggregate"] == aggregate


@pytest.mark.parametrize(
    ("state", "day"),
    [
        ({"window_start": "2024-05-03T00:00:00Z"}, date(2024, 5, 3)),
        ({"window_start": "2024-05-03"}, date(2024, 5, 3)),
        ({"start": "2024-05-03T00:00:00Z"}, date(2024, 5, 3)),
        ({"window_start": 1714694400}, date(2024, 5, 3)),
        ({"window_start": 1714694400000}, date(2024, 5, 3)),
        (
            {"state_type": "date-range", "slices": [{"start": "2024-01-01", "end": "2024-05-03"}]},
            date(2024, 5, 3),
        ),
        ({"slices": [{"start": "2024-01-01", "end": "2024-05-04T00:00:00Z"}]}, date(2024, 5, 3)),
        (
            {"slices": [{"end": "2024-05-04T00:00:00Z", "most_recent_cursor_value": "2024-05-02"}]},
            date(2024, 5, 2),
        ),
        ({"window_start": "yesterday"}, None),
        ({}, None),
    ],
)
def test_given_state_of_any_version_when_parsed_then_last_synced_day(state, day) -> None:
    assert parse_state_day(state) == day


@pytest.mark.parametrize(
    ("stream", "numbers"), [("allocations", ALLOCATION_NUMBERS), ("assets", ASSET_NUMBERS)]
)
def test_every_number_the_flattener_converts_is_a_nullable_number_in_the_schema(
    stream, numbers
) -> None:
    schema = json.loads((SCHEMAS / f"{stream}.json").read_text())["properties"]
    assert {n for n in numbers if schema.get(n, {}).get("type") != ["null", "number"]} == set()
