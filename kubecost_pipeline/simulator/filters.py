"""Kubecost v2 filters (``filter=cluster:"a"+namespace!:"kube-system"``), parsed and evaluated.

Grammar (kubecost/docs ``apis/filters-api.md``): ``field op "v1","v2"`` clauses joined by
``+`` (and) or ``|`` (or), parentheses to mix them. Operators: ``:`` equals (slices: contains
the value), ``~:`` contains, ``<~:`` starts with, ``~>:`` ends with, each negated with ``!``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

Predicate = Callable[[Mapping], bool]

ALLOCATION_FIELDS = {
    "cluster": "cluster",
    "node": "node",
    "namespace": "namespace",
    "controllerName": "controller",
    "controllerKind": "controllerKind",
    "container": "container",
    "pod": "pod",
    "services": "services",
    "providerID": "providerID",
    "department": "label:department",
    "environment": "label:env",
    "owner": "label:owner",
    "product": "label:app",
    "team": "label:team",
}
ASSET_FIELDS = {
    "name": "name",
    "assetType": "type",
    "category": "category",
    "cluster": "cluster",
    "project": "project",
    "provider": "provider",
    "providerID": "providerID",
    "account": "account",
    "service": "service",
}

_TOKEN = re.compile(
    r"""\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<and>\+)|(?P<or>\|)
    |(?P<field>[A-Za-z][A-Za-z0-9_]*(?:\[[^\]]*\])?)\s*(?P<op>!?(?:<~|~>|~)?:)\s*
     (?P<values>"(?:[^"\\]|\\.)*"(?:\s*,\s*"(?:[^"\\]|\\.)*")*))""",
    re.VERBOSE,
)
_VALUE = re.compile(r'"((?:[^"\\]|\\.)*)"')


class FilterError(ValueError):
    """A filter that does not parse; the message names the offending part."""


def _lookup(props: Mapping, path: str):
    if path.startswith("label:"):
        return (props.get("labels") or {}).get(path[6:])
    if path.startswith("annotation:"):
        return (props.get("annotations") or {}).get(path[11:])
    return props.get(path)


def _clause(path: str, op: str, values: list[str]) -> Predicate:
    negate = op.startswith("!")
    kind = op.lstrip("!")[:-1]  # "", "~", "<~", "~>"
    test: Callable[[str, str], bool] = {
        "": lambda a, b: a == b,
        "~": lambda a, b: b in a,
        "<~": lambda a, b: a.startswith(b),
        "~>": lambda a, b: a.endswith(b),
    }[kind]

    def match(props: Mapping) -> bool:
        got = _lookup(props, path)
        items = got if isinstance(got, list) else [got or ""]
        hit = any(test(str(item), v) for item in items for v in values)
        return hit != negate

    return match


def parse_filter(text: str, fields: Mapping[str, str] = ALLOCATION_FIELDS) -> Predicate:
    """A predicate over Kubecost ``properties`` (plus ``labels``); raises FilterError."""
    tokens: list[tuple[str, object]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise FilterError(f"parsing filter {text!r}: unexpected input at {text[pos:]!r}")
        pos = m.end()
        if m.group("field"):
            name = m.group("field")
            key = None
            if "[" in name:
                name, key = name[:-1].split("[", 1)
            if name in ("label", "annotation") and key:
                path = f"{name}:{key}"
            elif name in fields:
                path = fields[name]
            else:
                raise FilterError(
                    f"parsing filter {text!r}: unknown field {m.group('field')!r}; "
                    f"known fields: {', '.join(sorted(fields))}, label[<key>], annotation[<key>]"
                )
            values = [
                v.replace('\\"', '"').replace("\\\\", "\\")
                for v in _VALUE.findall(m.group("values"))
            ]
            tokens.append(("clause", _clause(path, m.group("op"), values)))
        else:
            tokens.append((m.lastgroup or "", None))
    if not tokens:
        raise FilterError("parsing filter: empty filter")
    pred, rest = _expr(tokens, text)
    if rest:
        raise FilterError(f"parsing filter {text!r}: unbalanced parentheses")
    return pred


def _expr(tokens: list, text: str) -> tuple[Predicate, list]:
    parts: list[Predicate] = []
    joiner = None
    while tokens:
        kind, value = tokens[0]
        if kind == "rp":
            break
        if kind in ("and", "or"):
            if joiner not in (None, kind):
                raise FilterError(f"parsing filter {text!r}: mix + and | only with parentheses")
            joiner = kind
            tokens = tokens[1:]
            continue
        if kind == "lp":
            inner, tokens = _expr(tokens[1:], text)
            if not tokens or tokens[0][0] != "rp":
                raise FilterError(f"parsing filter {text!r}: missing ')'")
            tokens = tokens[1:]
            parts.append(inner)
            continue
        parts.append(value)
        tokens = tokens[1:]
    if not parts:
        raise FilterError(f"parsing filter {text!r}: empty expression")
    if joiner == "or":
        return (lambda p: any(f(p) for f in parts)), tokens
    return (lambda p: all(f(p) for f in parts)), tokens


V1_FILTERS = {
    "filterClusters": "cluster",
    "filterNodes": "node",
    "filterNamespaces": "namespace",
    "filterControllerKinds": "controllerKind",
    "filterControllers": "controller",
    "filterPods": "pod",
    "filterContainers": "container",
}


def parse_v1_filters(query: Mapping[str, str]) -> Predicate | None:
    """Kubecost's legacy filters (``filterNamespaces=a,kube-*``): comma lists, a trailing ``*``
    matches a prefix; all parameters must match. None when no v1 filter is given."""
    clauses = [
        (prop, [v.strip() for v in query[param].split(",") if v.strip()])
        for param, prop in V1_FILTERS.items()
        if query.get(param)
    ]
    if not clauses:
        return None

    def matches(props: Mapping) -> bool:
        for prop, values in clauses:
            actual = str(props.get(prop) or "")
            if not any(
                actual.startswith(v[:-1]) if v.endswith("*") else actual == v for v in values
            ):
                return False
        return True

    return matches
