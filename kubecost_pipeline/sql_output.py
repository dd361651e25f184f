"""How `kubecost-pipeline sql` prints a result: an aligned table, CSV or JSON lines.

    write_rows(sys.stdout, "table", result.column_names, result.result_rows)

Values as clickhouse-connect decodes them are rendered the same way in every format, except:

| value | table | csv | jsonl |
|---|---|---|---|
| NULL | `NULL` | empty field | `null` |
| Float32/64 | 10 significant digits | shortest exact text (repr) | the same, as a number |
| nan, inf | `nan`, `inf`, `-inf` | the same | `null` (JSON has neither) |
| Decimal | exact | exact | exact, as a string |
| Map, Array, Tuple | compact JSON | compact JSON | JSON object or array |
| Date, DateTime | ISO 8601: `2026-11-30`, `2026-11-30T08:00:00` | the same | as a string |
| Bool | `true`, `false` | the same | JSON boolean |

Inside a Map, Array or Tuple the same rules apply (a table rounds floats there too; nan and
inf are null there, as in JSON). In a table, a tab, newline or carriage return inside a
string is shown as `\\t`, `\\n`, `\\r`, so each row stays one line; numeric columns are
right-aligned.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, TextIO

FORMATS = ("table", "csv", "jsonl")
TABLE_DIGITS = 10  # significant digits of a float in a table
# A query's own output clause: `... FORMAT <name>` at its end (optionally followed by
# SETTINGS, which ClickHouse also accepts there, and a semicolon).
_FORMAT_CLAUSE = re.compile(r"\bFORMAT\s+([A-Za-z_]\w*)(?:\s+SETTINGS\b.*)?\s*;?\s*\Z", re.I | re.S)
_COMMENTS = re.compile(r"--[^\n]*|#[^\n]*|/\*.*?\*/", re.S)
_STRINGS = re.compile(r"'(?:[^'\\]|\\.|'')*'")
_CONTROL = str.maketrans({"\t": "\\t", "\n": "\\n", "\r": "\\r"})


def format_clause(query: str) -> str | None:
    """The name in the query's own `FORMAT <name>` clause, or None."""
    code = _COMMENTS.sub(" ", _STRINGS.sub("''", query))
    found = _FORMAT_CLAUSE.search(code)
    return found[1] if found else None


def write_rows(out: TextIO, fmt: str, names: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Write a header and the rows to `out` in `fmt` (one of FORMATS)."""
    if fmt == "jsonl":
        for row in rows:
            record = {
                name: _plain(value, exact=True) for name, value in zip(names, row, strict=True)
            }
            out.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")
    elif fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(names)
        writer.writerows([_text(value, exact=True, null="") for value in row] for row in rows)
    elif fmt == "table":
        out.write(_table(names, rows))
    else:
        raise ValueError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")


def _table(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [
        [_text(value, exact=False, null="NULL").translate(_CONTROL) for value in row]
        for row in rows
    ]
    widths = [max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(names)]
    numeric = [
        any(_is_number(row[i]) for row in rows)
        and all(row[i] is None or _is_number(row[i]) for row in rows)
        for i in range(len(names))
    ]

    def line(texts: Sequence[str]) -> str:
        padded = (
            text.rjust(width) if right else text.ljust(width)
            for text, width, right in zip(texts, widths, numeric, strict=True)
        )
        return "  ".join(padded).rstrip() + "\n"

    return "".join(
        [line(names), line(["-" * width for width in widths]), *(line(row) for row in cells)]
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _text(value: Any, exact: bool, null: str) -> str:
    """One value as the text of a table cell or CSV field."""
    if value is None:
        return null
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _float_text(value, exact)
    if isinstance(value, dict | list | tuple):
        plain = _plain(value, exact)
        return json.dumps(plain, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return str(_plain(value, exact))


def _float_text(value: float, exact: bool) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(_plain(value, exact))


def _plain(value: Any, exact: bool) -> Any:
    """`value` as JSON-ready Python: None, bool, int, float, str, list or dict."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return value if exact else float(f"{value:.{TABLE_DIGITS}g}")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return {str(_plain(key, exact)): _plain(item, exact) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item, exact) for item in value]
    return str(value)  # UUID, IPv4Address, IPv6Address, Enum's str, ...
