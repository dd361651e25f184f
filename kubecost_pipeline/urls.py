"""URLs in messages and logs: every room shows them through `redact`, never raw."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

# `scheme://user:password@` anywhere in a text: the password is the part to hide.
_CREDENTIALS = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:)[^\s/]*@")


def redact(url: str) -> str:
    """``scheme://user:secret@host`` -> ``scheme://user:***@host``; other text unchanged."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return redact_text(url)
    netloc = f"{parts.username or ''}:***@{parts.netloc.rsplit('@', 1)[1]}"
    return urlunsplit(parts._replace(netloc=netloc))


def redact_text(text: str) -> str:
    """Every ``scheme://user:secret@`` in a text (a log line, a command line) with ``***``."""
    return _CREDENTIALS.sub(r"\1***@", text)
