"""The items of a Kubecost envelope's `data`, decoded one at a time from a streamed body.

`{"code": 200, "data": [{"<key>": {...}, ...}, ...]}` (a list of maps, one per window) or
`{"data": {"<key>": {...}}}` (one map). Memory holds a window of the body's text (a chunk or
two) and the item being decoded, whatever the size of the day.

The parse is most of a day worker's time, so items are decoded by orjson, which needs the
exact text of each value: the first item of a map is read by the json module's C scanner,
which finds where it ends; the items after it are then cut at the places where an item
like it starts (`,"<key>":{"<its first field>":`), and each cut value is given to orjson.
A cut that is not exactly one value fails to parse (the pattern matched inside a value or a
string, or an item is shaped otherwise), and that item is read by the scanner instead. On a
day of 50,000 containers this is about 2.7 times as fast as ijson's yajl2_c (bench/results.md).

Whichever way an item is read, its value is orjson's reading of its text, or the json
module's where orjson refuses it (a lone surrogate, 1e400). NaN and Infinity are refused. A
body that ends in the middle of the document raises `Truncated`; anything else that is not
such an envelope raises `Invalid`. Which of the two a body that ends badly is, yajl (ijson)
decides from the last item on, as for small answers (client.py).
"""

from __future__ import annotations

import codecs
import collections
import io
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import ijson
import orjson

_SPACE = re.compile(r"[ \t\n\r]*")
_PLAIN = r'[^"\\\x00-\x1f]*'  # a key without escapes, as Kubecost writes them
_CUT = 8  # an error this close to the window's end may be an item cut by the window
_READ_AHEAD = 64 << 10  # characters the window holds past the current item, when it can
_MAX_ITEM = 256 << 20  # characters of one item; a longer one is refused
_PREMATURE = "premature EOF"  # yajl's message when the document stops early


class Invalid(ValueError):
    """The body is not JSON, or not an envelope."""


class Truncated(Exception):
    """The body ended in the middle of the document."""


def cut_short(document: bytes) -> bool:
    """Whether yajl finds `document` the start of a JSON document that stops early."""
    try:
        collections.deque(ijson.basic_parse(io.BytesIO(document)), maxlen=0)
    except ijson.JSONError as error:
        return _PREMATURE in str(error)
    return False


def refuse_constant(name: str) -> Any:
    """`parse_constant` of the json module: NaN and Infinity are not JSON."""
    raise ValueError(f"invalid JSON literal {name}")


_SCAN = json.JSONDecoder(parse_constant=refuse_constant).scan_once  # type: ignore[attr-defined]


class _Text:
    """A window of the body's text, refilled from the chunks as values are taken.

    The window keeps the text from `mark` (where the current item starts), which `context`
    opens as a document: what yajl reads to tell a cut body from a malformed one.
    """

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self.text = ""
        self.pos = self.mark = 0
        self.context = ""
        self.offset = 0  # characters before the window
        self.eof = False

    def item(self, context: str) -> None:
        """An item starts here, inside `context`."""
        self.mark, self.context = self.pos, context

    def more(self) -> bool:
        """Adds a chunk to the window (dropping what is before `mark`); False at the end."""
        if self.eof:
            return False
        chunk = next(self._chunks, None)
        self.eof = chunk is None
        try:
            tail = self._utf8.decode(chunk or b"", final=self.eof)
        except UnicodeDecodeError as error:
            raise self.fail(f"{error.reason} (not UTF-8) near character {self.at}") from None
        keep = min(self.pos, self.mark)
        self.text = self.text[keep:] + tail
        self.offset += keep
        self.pos -= keep
        self.mark -= keep
        return True

    @property
    def at(self) -> int:
        return self.offset + self.pos

    def fail(self, message: str) -> Exception:
        """`Invalid(message)`, or `Truncated` when yajl finds the body a cut document."""
        if self.eof and cut_short((self.context + self.text[self.mark :]).encode()):
            return Truncated(f"the body ended early, at character {self.at}")
        return Invalid(message)

    def char(self) -> str:
        """The next character that is not white space, left in place ('' at the end)."""
        while True:
            self.pos = _SPACE.match(self.text, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.text) or not self.more():
                return self.text[self.pos : self.pos + 1]

    def take(self, expected: str) -> str:
        """The next character, which must be one of `expected`."""
        found = self.char()
        if found not in expected or not found:
            raise self.fail(f"expected one of {expected!r} at character {self.at}, not {found!r}")
        self.pos += 1
        return found

    def value(self) -> Any:
        """The next JSON value."""
        self.char()
        while True:
            try:
                value, end = _SCAN(self.text, self.pos)
            except StopIteration as stop:  # nothing that starts a value
                message = f"expected a value at character {self.offset + stop.value}"
                cut = stop.value >= len(self.text) - _CUT
            except json.JSONDecodeError as error:
                message = f"{error.msg} at character {self.offset + error.pos}"
                cut = error.msg.startswith("Unterminated") or error.pos >= len(self.text) - _CUT
            except ValueError as refused:  # NaN, Infinity
                raise self.fail(f"{refused} near character {self.at}") from None
            else:
                if end < len(self.text) or self.eof:
                    start, self.pos = self.pos, end
                    return _read(self.text[start:end], value)
                message, cut = "", True  # a number may go on in the next chunk
            # Doubling the text past `pos` scans a long value a few times, not once per chunk.
            if not cut or len(self.text) - self.pos > _MAX_ITEM or not self.fill(2 * self.ahead):
                raise self.fail(message or f"a value too long at character {self.at}")

    @property
    def ahead(self) -> int:
        """Characters of the window from `pos` on."""
        return len(self.text) - self.pos

    def fill(self, size: int) -> bool:
        """Adds chunks until the window holds `size` characters from `pos` on, or the body
        ends; False when nothing was added."""
        added = False
        while self.ahead < size and self.more():
            added = True
        return added


def _read(source: str, scanned: Any) -> Any:
    """orjson's reading of a value's text, or else the json module's (`scanned`)."""
    if scanned.__class__ in (dict, list, float, int):
        try:
            return orjson.loads(source)
        except orjson.JSONDecodeError:
            pass
    return scanned


def data_items(
    chunks: Iterator[bytes], check: Callable[[Any, Any], None]
) -> Iterator[tuple[str, Any]]:
    """The (key, value) items of the envelope's `data` maps, in order. `check(code, message)`
    sees the envelope's code and message before the first item (those that come before
    `data`), and again at the end."""
    text = _Text(chunks)
    code = message = None
    text.take("{")
    if text.char() == "}":
        text.pos += 1
    else:
        while True:
            text.item("{")
            key = _key(text)
            if key == "data":
                check(code, message)
                yield from _data(text)
            elif key == "code":
                code = text.value()
            elif key == "message":
                message = text.value()
            else:
                text.value()
            if text.take(",}") == "}":
                break
    if text.char():
        raise text.fail(f"more after the end of the document at character {text.at}")
    check(code, message)


def _key(text: _Text) -> str:
    if text.char() != '"':
        raise text.fail(f"expected a key at character {text.at}")
    key: str = text.value()
    text.take(":")
    return key


def _data(text: _Text) -> Iterator[tuple[str, Any]]:
    """`data`: a map of items, or a list of such maps (anything else in it holds no items)."""
    first = text.char()
    if first == "{":
        yield from _map(text, '{"data":{')
    elif first == "[":
        text.pos += 1
        if text.char() == "]":
            text.pos += 1
            return
        while True:
            text.item('{"data":[')
            if text.char() == "{":
                yield from _map(text, '{"data":[{')
            else:
                text.value()
            if text.take(",]") == "]":
                return
    else:
        text.value()


def _map(text: _Text, context: str) -> Iterator[tuple[str, Any]]:
    text.pos += 1  # {
    if text.char() == "}":
        text.pos += 1
        return
    starts = None  # where an item like the first one starts
    while True:
        if starts is not None:
            yield from _cut(text, starts)
        text.item(context)
        key = _key(text)
        value = text.value()
        if starts is None and value.__class__ is dict and value:
            first = next(iter(value))  # before the consumer changes the value in place
            if re.fullmatch(_PLAIN, first):
                starts = re.compile(f',"({_PLAIN})":(?={{"{re.escape(first)}":)')
        yield key, value
        if text.take(",}") == "}":
            return


def _cut(text: _Text, starts: re.Pattern[str]) -> Iterator[tuple[str, Any]]:
    """The items from `text.pos` (after a `,`) that lie between two places matching `starts`
    and that orjson reads as one value; stops at the first that is not, or at the last one
    the window holds (the window is refilled first when it can be)."""
    while True:
        text.fill(_READ_AHEAD)
        window = text.text
        found = starts.finditer(window, text.pos - 1)
        current = next(found, None)
        if current is None or current.start() != text.pos - 1:
            return
        moved = False
        for following in found:
            try:
                value = orjson.loads(window[current.end() : following.start()])
            except orjson.JSONDecodeError:
                return
            yield current[1], value
            text.pos = text.mark = following.start() + 1
            current, moved = following, True
        if not moved or text.eof:
            return
