"""The spec is documentation and a contract: every field at every depth is described, and
configs are judged the same by a format-checking JSON Schema validator (as PyAirbyte and the
platform use) and by the connector."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from source_kubecost.config import parse_config
from source_kubecost.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SPEC = yaml.safe_load((ROOT / "source_kubecost" / "spec.yaml").read_text())
SCHEMA = SPEC["connectionSpecification"]
_VALIDATOR = jsonschema.Draft7Validator(SCHEMA, format_checker=jsonschema.FormatChecker())


def _fields(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every property and every oneOf option, at every depth."""
    for number, option in enumerate(schema.get("oneOf", [])):
        yield f"{path}.oneOf[{number}] ({option.get('title')})", option
        yield from _fields(option, f"{path}.oneOf[{number}]")
    for name, field in schema.get("properties", {}).items():
        yield f"{path}.{name}", field
        yield from _fields(field, f"{path}.{name}")


def test_every_field_and_option_at_every_depth_has_a_description() -> None:
    fields = list(_fields(SCHEMA))
    assert len(fields) > 30  # the auth options' fields are walked too
    assert [path for path, field in fields if not str(field.get("description", "")).strip()] == []


def _config(**values: Any) -> dict[str, Any]:
    return {"url": "http://kubecost.test:9090", "start_date": "2024-05-01", **values}


@pytest.mark.parametrize(
    ("values", "valid"),
    [
        ({}, True),
        ({"end_date": ""}, True),  # empty: sync up to yesterday
        ({"end_date": "2024-05-31"}, True),
        ({"end_date": "2024-5-31"}, False),
        ({"start_date": ""}, False),
        ({"start_date": "2024-02-30"}, False),  # format: date
        ({"credentials": {"auth_type": "bearer", "token": "t"}}, True),
        ({"credentials": {"auth_type": "bearer"}}, False),
    ],
)
def test_a_format_checking_validator_and_the_connector_agree(values, valid) -> None:
    config = _config(**values)
    errors = [e.message for e in _VALIDATOR.iter_errors(config)]
    assert (errors == []) is valid, errors
    if valid:
        parse_config(config)
    elif "credentials" not in values:  # the connector checks the rest itself
        with pytest.raises(ConfigError):
            parse_config(config)


def test_the_documentation_url_is_the_same_in_spec_and_metadata_and_can_exist() -> None:
    metadata = yaml.safe_load((ROOT / "metadata.yaml").read_text())["data"]
    url = SPEC["documentationUrl"]
    assert url == metadata["documentationUrl"]
    parts = urlsplit(url)
    assert parts.scheme == "https" and parts.netloc  # metadata's `format: uri`: absolute
    # Airbyte publishes no page for a connector in none of its registries.
    assert parts.netloc != "docs.airbyte.com"
    if "/blob/" in parts.path:  # a page of this repository: the checkout has it
        page = parts.path.split("/blob/", 1)[1].split("/", 1)[1]
        assert (ROOT / page).is_file(), page


def test_metadata_names_no_registry_the_connector_is_not_published_to() -> None:
    metadata = yaml.safe_load((ROOT / "metadata.yaml").read_text())["data"]
    assert not {"registries", "registryOverrides", "remoteRegistries"} & set(metadata)
