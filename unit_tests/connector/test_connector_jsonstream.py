"""The streamed envelope parser against independent readers: the json module over the whole
body (every item, duplicates included, in order) and yajl for bodies that stop early, for
any split of the body into chunks."""

from __future__ import annotations

import collections
import io
import itertools
import json
from pathlib import Path
from typing import Any

import ijson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from source_kubecost.jsonstream import Invalid, Truncated, data_items

# Text that looks like the places where items are cut apart, inside strings and keys.
_TRICKY = ['","a":{"name":"', '},"b":{"name":', "\\", '"', "é", "\u2028", "\x01", "}", "]"]
_strings = st.one_of(st.text(max_size=8), st.sampled_from(_TRICKY))
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    _strings,
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(_strings, inner, max_size=3)
    ),
    max_leaves=8,
)
# Items shaped like allocations (a first field in common), and now and then another shape.
_allocation = st.builds(
    lambda name, rest: {"name": name, **rest},
    _strings,
    st.dictionaries(_strings.filter(lambda k: k != "name"), _values, max_size=4),
)
_items = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c/d", '"', "é", '","a":{"name":"']), _allocation)
    | st.tuples(st.text(max_size=4), _values),
    max_size=12,
)


def _body(maps: list[list[tuple[str, Any]]], listed: bool, spaced: bool) -> bytes:
    """An envelope written by hand, so that items may repeat a key."""
    separator, colon = (", ", ": ") if spaced else (",", ":")

    def dump(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(separator, colon))

    written = [
        "{" + separator.join(dump(k) + colon + dump(v) for k, v in items) + "}" for items in maps
    ]
    data = "[" + separator.join(written) + "]" if listed else written[0]
    return ('{"code"' + colon + "200" + separator + '"data"' + colon + data + "}").encode()


class _Pairs(list):  # type: ignore[type-arg]
    """An object's pairs, duplicates kept."""


def _pairs(body: bytes) -> list[tuple[str, Any]]:
    """Every item of the body, as the json module reads the whole of it."""
    data = dict(json.loads(body, object_pairs_hook=_Pairs))["data"]
    maps = [data] if isinstance(data, _Pairs) else data
    return [(key, _as_dicts(value)) for items in maps for key, value in items]


def _as_dicts(value: Any) -> Any:
    if isinstance(value, _Pairs):
        return {key: _as_dicts(inner) for key, inner in value}
    if isinstance(value, list):
        return [_as_dicts(inner) for inner in value]
    return value


def _parse(body: bytes, cuts: list[int]) -> list[tuple[str, Any]]:
    bounds = sorted({0, len(body), *(c % (len(body) + 1) for c in cuts)})
    chunks = iter([body[a:b] for a, b in itertools.pairwise(bounds)])
    return list(data_items(chunks, lambda code, message: None))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    maps=st.lists(_items, min_size=1, max_size=3),
    listed=st.booleans(),
    spaced=st.booleans(),
    cuts=st.lists(st.integers(min_value=0), max_size=12),
)
def test_given_any_envelope_in_any_chunks_then_every_item_as_the_json_module_reads_it(
    maps: list[list[tuple[str, Any]]], listed: bool, spaced: bool, cuts: list[int]
) -> None:
    assume(listed or len(maps) == 1)
    body = _body(maps, listed, spaced)
    assert _parse(body, cuts) == _pairs(body)


def _yajl_says_cut(document: bytes) -> bool:
    """yajl's word, on the document without a character it ends in the middle of (a body cut
    there is cut short too; yajl would call the bytes invalid UTF-8)."""
    document = document.decode("utf-8", "ignore").encode()
    try:
        collections.deque(ijson.basic_parse(io.BytesIO(document)), maxlen=0)
    except ijson.JSONError as error:
        return "premature EOF" in str(error)
    return False


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(items=_items, spaced=st.booleans(), end=st.integers(min_value=0), chunk=st.integers(1, 50))
def test_given_a_body_that_stops_anywhere_then_truncated_exactly_when_yajl_says_so(
    items: list[tuple[str, Any]], spaced: bool, end: int, chunk: int
) -> None:
    body = _body([items], True, spaced)
    prefix = body[: end % len(body)]
    with pytest.raises((Truncated, Invalid)) as raised:
        _parse(prefix, list(range(0, len(prefix), chunk)))
    assert (raised.type is Truncated) == _yajl_says_cut(prefix)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"data":[{"a":{"name":1},"b":{"name":NaN}}]}', "invalid JSON literal NaN"),
        (b'{"data":[{"a":{"name":1}}]}}', "more after the end of the document at character 27"),
        (b'{"data":[{"a":{"name":"\xff"}}]}', "not UTF-8"),
        # The json module of Python 3.11-3.12, then of 3.13.
        (b'{"data":[{"a":{"name":1,}}]}', "Expecting property name|Illegal trailing comma"),
        (b'{"data":[{1:{"name":1}}]}', "expected a key at character 10"),
        (b'["data"]', "expected one of '{' at character 0"),
    ],
)
def test_given_a_body_that_is_not_an_envelope_then_invalid_with_where(
    body: bytes, message: str
) -> None:
    with pytest.raises(Invalid, match=message):
        _parse(body, [7, 19])


@pytest.mark.parametrize(
    ("number", "read"),
    [(b"123456789012345678901234567890", 1.2345678901234568e29), (b"1e400", float("inf"))],
)
def test_given_a_number_orjson_reads_otherwise_or_refuses_then_one_reading_whatever_the_path(
    number: bytes, read: float
) -> None:
    # The first item of a map is read by the scanner, the ones after it are cut for orjson.
    item = b'{"name":"x","n":%s}' % number
    body = b'{"data":[{"a":%s,"b":%s,"c":%s}]}' % (item, item, item)
    assert _parse(body, []) == [(key, {"name": "x", "n": read}) for key in "abc"]


def test_given_the_envelope_code_when_before_or_after_data_then_checked_at_first_item_and_end() -> (
    None
):
    seen: list[tuple[Any, Any]] = []
    body = b'{"code":503,"message":"busy","data":[{"a":{"name":1}}],"code":200}'
    items = data_items(iter([body]), lambda code, message: seen.append((code, message)))
    assert next(items) == ("a", {"name": 1})
    assert seen == [(503, "busy")]
    assert list(items) == []
    assert seen == [(503, "busy"), (200, "busy")]


def test_given_an_item_of_megabytes_in_small_chunks_then_read_whole() -> None:
    labels = {f"label-{n}": "x" * 100 for n in range(20_000)}  # about 2.3 MB
    items = [("a", {"name": "a", "labels": labels}), ("b", {"name": "b", "labels": labels})]
    body = _body([items], True, False)
    assert _parse(body, list(range(0, len(body), 1024))) == items


_FIXTURES = [
    path
    for folder in (
        Path(__file__).resolve().parents[1] / "resource" / "fixtures",
        Path(__file__).resolve().parents[3] / "shared" / "fixtures",
    )
    for path in sorted(folder.glob("*__*.json"))
]


@pytest.mark.parametrize("path", _FIXTURES, ids=lambda path: f"{path.parent.name}/{path.name}")
@pytest.mark.parametrize("chunk", [7, 4096, 1 << 20])
def test_given_a_real_payload_compact_as_kubecost_writes_it_or_as_published_then_every_item(
    path: Path, chunk: int
) -> None:
    """Public payloads (vendored, and ../shared/fixtures where it exists), as published and
    compact as Go's encoder writes them (where items are cut apart for orjson)."""
    published = path.read_bytes()
    payload = json.loads(published)
    if isinstance(payload, dict) and "name" in payload:
        payload = [{payload["name"]: payload}]
    if not (isinstance(payload, dict) and "data" in payload):
        payload = {"code": 200, "data": payload}
        published = json.dumps(payload, indent=2).encode()
    compact = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    for body in (published, compact):
        assert _parse(body, list(range(0, len(body), chunk))) == _pairs(body)
