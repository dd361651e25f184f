"""HTTP access to Kubecost/OpenCost: retries, error classification and streaming parse.

A day's response is parsed as a stream (jsonstream.py, 64 KiB of the body at a time) and
each record, once flattened, is written to a Spool (a temporary file of finished RECORD lines).
Records are emitted only after the whole body parsed, so a malformed or interrupted day
emits nothing, while memory stays bounded whatever the response size. No CDK import here:
this runs in the day workers, which start before the CDK is imported (workers.py).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any

import requests

from source_kubecost.config import Settings
from source_kubecost.errors import (
    ApiNotFound,
    ConnectFailed,
    Malformed,
    NotTheApi,
    QueryRejected,
    RetriesExhausted,
    TimedOut,
    Transient,
    config_error,
)
from source_kubecost.jsonstream import Truncated, cut_short, data_items, refuse_constant
from source_kubecost.spool import Spool

logger = logging.getLogger("airbyte")

MAX_ATTEMPTS = 6  # first try + 5 retries
TIMEOUT_ATTEMPTS = 2  # a request that times out twice at one size is split instead
MAX_BACKOFF_SECONDS = 120.0
CONNECT_TIMEOUT_SECONDS = 15
_CHUNK = 64 * 1024
_LOGIN_HINTS = ("login", "sso", "saml", "oauth", "oidc", "auth")


def _backoff_base() -> float:
    """Base of the exponential backoff; `SOURCE_KUBECOST_BACKOFF_SECONDS` shortens it in tests."""
    return float(os.environ.get("SOURCE_KUBECOST_BACKOFF_SECONDS", "2"))


Sink = tuple[Callable[[str, Any], dict[str, Any]], Spool]  # flatten each item into the spool


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, min(float(value), 600.0))
    except ValueError:
        return None  # an HTTP date: fall back to exponential backoff


def _snippet(data: bytes | str, limit: int = 200) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return " ".join(text.split())[:limit]


class KubecostClient:
    """One session per sync, with auth, TLS and the API path prefix (`/model` or none)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._ca: IO[str] | None = None  # the custom CA, in an unlinked file
        self.renew_session()
        self._model_prefix = settings.model_prefix

    def __getstate__(self) -> dict[str, Any]:
        # A day worker gets the client with each day (pickled): without the session, which
        # is costly to pickle and must not be shared anyway (pooled sockets), and without the
        # CA file, which the worker writes for itself.
        return {k: v for k, v in self.__dict__.items() if k not in ("session", "_ca", "verify")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _ca=None)
        self.renew_session()

    def _verify(self) -> bool | str:
        """requests' `verify`: a bool, or the path of the custom CA. The CA is written to an
        unlinked file and named by its descriptor, so no file is left behind, even when the
        sync is killed."""
        settings = self.settings
        if not (settings.verify and settings.ca_certificate):
            return settings.verify
        if self._ca is None:
            self._ca = tempfile.TemporaryFile("w+")  # noqa: SIM115 - lives with the client
            self._ca.write(settings.ca_certificate)
            self._ca.flush()
        return f"/proc/self/fd/{self._ca.fileno()}"

    def renew_session(self) -> None:
        """A fresh session (a forked read-ahead process must not share pooled sockets)."""
        self.session = requests.Session()
        self.session.headers.update({"Accept": "application/json", **self.settings.headers})
        if self.settings.auth:
            self.session.auth = self.settings.auth
        self.verify = self._verify()  # passed with every request: a session's `verify`
        # loses to REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE in the environment (requests' merge)

    # ---------- paths

    @property
    def model_prefix(self) -> bool:
        if self._model_prefix is None:
            self._model_prefix = self.detect_prefix()
        return self._model_prefix

    def url(self, endpoint: str, model: bool | None = None) -> str:
        model = self.model_prefix if model is None else model
        return f"{self.settings.base_url}{'/model' if model else ''}/{endpoint}"

    def detect_prefix(self, attempts: int = MAX_ATTEMPTS) -> bool:
        """Finds `/model/clusterInfo` (Kubecost, OpenCost's UI) or `/clusterInfo` (OpenCost),
        and keeps the answer."""
        failures = []
        for model in (True, False):
            try:
                self.get_json("clusterInfo", {}, "cluster info", model=model, attempts=attempts)
            except (ApiNotFound, NotTheApi) as error:
                failures.append(f"{self.url('clusterInfo', model)}: {error.message}")
                continue
            logger.info("Detected the API at %s", self.url("", model))
            self._model_prefix = model
            return model
        raise ApiNotFound(
            f"No Kubecost or OpenCost API answers at {self.settings.base_url}: "
            + "; ".join(failures)
            + ". Check the URL (Kubecost: port 9090 of kubecost-cost-analyzer; OpenCost: "
            "port 9003) or pick the API flavour explicitly."
        )

    # ---------- requests

    def get_json(
        self,
        endpoint: str,
        params: Mapping[str, str],
        what: str,
        model: bool | None = None,
        attempts: int = MAX_ATTEMPTS,
    ) -> Any:
        """The `data` of a small JSON envelope (cluster info, configs, cluster lists)."""
        return self._retrying(
            what, lambda: self._once(endpoint, params, what, None, model), attempts
        )

    def fetch(
        self,
        endpoint: str,
        params: Mapping[str, str],
        what: str,
        transform: Callable[[str, Any], dict[str, Any]],
        spool: Spool,
    ) -> Spool:
        """Streams `data` (list of sets or one map) through `transform` into `spool`, which
        each attempt starts afresh."""

        def attempt() -> Spool:
            spool.reset()
            self._once(endpoint, params, what, (transform, spool), None)
            return spool

        return self._retrying(what, attempt)

    def _retrying(self, what: str, attempt: Callable[[], Any], attempts: int = MAX_ATTEMPTS) -> Any:
        timeouts = 0
        for number in range(1, attempts + 1):
            try:
                return attempt()
            except Transient as error:
                timeouts += error.timeout
                final = number == attempts
                if error.timeout and timeouts >= TIMEOUT_ATTEMPTS:
                    raise TimedOut(
                        f"Kubecost timed out {timeouts} times on {what}: {error.cause}. "
                        "Raise the request timeout, choose a coarser granularity, or give "
                        "the Kubecost aggregator/cost-model more CPU and memory.",
                        error,
                    ) from error
                if final:
                    raise RetriesExhausted(
                        f"Kubecost failed on {what} after {attempts} attempts: {error.cause}. "
                        "The next sync retries it (the state stops before it). If it "
                        "persists, check the health of Kubecost (cost-analyzer/aggregator "
                        "pods), raise the request timeout or choose a coarser granularity.",
                        error,
                    ) from error
                base = _backoff_base()
                delay = error.retry_after
                if delay is None:
                    delay = min(MAX_BACKOFF_SECONDS, base * 2 ** (number - 1))
                    delay *= 0.5 + random.random()  # jitter
                logger.warning(
                    "%s: %s; retry %d of %d in %.1f s",
                    what,
                    error.cause,
                    number,
                    attempts - 1,
                    delay,
                )
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _once(
        self,
        endpoint: str,
        params: Mapping[str, str],
        what: str,
        sink: Sink | None,
        model: bool | None,
    ) -> Any:
        url = self.url(endpoint, model)
        try:
            response = self.session.get(
                url,
                params=params,
                timeout=(CONNECT_TIMEOUT_SECONDS, self.settings.request_timeout),
                stream=True,
                allow_redirects=False,
                verify=self.verify,
            )
        except requests.exceptions.SSLError as error:
            raise config_error(
                f"TLS verification failed for {url}: {error}. Add the cluster's CA certificate "
                "in 'Custom CA certificate', or turn 'Verify TLS' off for a self-signed test "
                "setup.",
                str(error),
            ) from None
        except requests.exceptions.ReadTimeout:
            raise Transient(
                f"no answer within {self.settings.request_timeout} s", timeout=True
            ) from None
        except requests.exceptions.RequestException as error:
            raise ConnectFailed(url, _connect_reason(error)) from None
        with response:
            self._check_status(response, url)
            return self._read_body(response, what, sink)

    def _check_status(self, response: requests.Response, url: str) -> None:
        status = response.status_code
        if 300 <= status < 400:
            location = response.headers.get("Location", "")
            if any(hint in location.lower() for hint in _LOGIN_HINTS):
                raise config_error(
                    f"Kubecost redirected {url} to a single sign-on login page ({location}). "
                    "Choose bearer token or cookie token authentication with a token of a "
                    "signed-in user, or use the in-cluster port that bypasses SSO (9007)."
                )
            raise config_error(
                f"{url} redirects to {location!r}. Set the Kubecost URL to the address the "
                "API is finally served at."
            )
        if status in (401, 403):
            raise config_error(
                f"Kubecost refused the credentials (HTTP {status}) at {url}. Check the "
                "authentication method and the username/password or token; SSO tokens expire."
            )
        if status == 404:
            raise ApiNotFound(
                f"Kubecost API not found (HTTP 404) at {url}. Check the URL and the API flavour: "
                "Kubecost serves /model/allocation (port 9090), OpenCost /allocation (9003)."
            )
        if status == 429 or status >= 500 or status == 408:
            body = next(response.iter_content(2048), b"")
            raise Transient(
                f"HTTP {status} {_snippet(body)!r}",
                retry_after=_retry_after(response),
                timeout=status in (408, 499, 504, 524),
            )
        if status >= 400:
            body = next(response.iter_content(2048), b"")
            raise QueryRejected(
                f"Kubecost rejected the query (HTTP {status}) at {url}: {_snippet(body)}. Check "
                "the filter expression and the sharing options."
            )

    def _read_body(
        self,
        response: requests.Response,
        what: str,
        sink: Sink | None,
    ) -> Any:
        chunks = response.iter_content(_CHUNK)
        head, eof = b"", False
        try:
            while len(head) < _CHUNK:
                chunk = next(chunks, None)
                if chunk is None:
                    eof = True
                    break
                head += chunk
            if not head.lstrip().startswith(b"{"):
                if head.lstrip()[:1] == b"<":
                    raise NotTheApi(
                        f"{response.url.split('?')[0]} answered {what} with an HTML page "
                        f"(HTTP {response.status_code}), not Kubecost's JSON: "
                        f"{_snippet(head, 120)!r}. It is a login page, the UI or another "
                        "service: point the URL at the API (Kubecost's cost-analyzer on port "
                        "9090 or OpenCost on port 9003), and for single sign-on choose bearer "
                        "or cookie token authentication."
                    )
                raise Transient(f"a body that is not JSON: {_snippet(head, 120)!r}")
            if eof and sink is None:
                return self._small(head, what)
            return self._stream(itertools.chain([head], chunks), what, sink)
        except requests.exceptions.RequestException as error:
            raise Transient(f"connection broken while reading ({type(error).__name__})") from None

    @staticmethod
    def _check_code(code: Any, message: Any, what: str) -> None:
        if code is None or code == 200:
            return
        if isinstance(code, int | float) and code >= 500:
            raise Transient(f"JSON code {code}: {_snippet(str(message or ''))}")
        raise config_error(f"Kubecost answered {what} with code {code}: {message}")

    def _small(self, body: bytes, what: str) -> Any:
        """The `data` of a small envelope (cluster info, configs)."""
        try:
            doc = json.loads(body, parse_constant=refuse_constant)
        except ValueError as error:
            if cut_short(body):
                raise Transient("the body ended early (truncated)") from None
            raise _malformed(what, 0, None, str(error)) from None
        if not isinstance(doc, dict):
            raise _malformed(what, 0, None, f"the body is a JSON {type(doc).__name__}")
        self._check_code(doc.get("code"), doc.get("message"), what)
        return doc.get("data")

    def _stream(self, chunks: Iterator[bytes], what: str, sink: Sink | None) -> None:
        if sink is None:
            raise _malformed(what, 0, None, "a small response was expected")
        items = data_items(chunks, lambda code, message: self._check_code(code, message, what))
        _spool_items(items, what, *sink)


def _connect_reason(error: Exception) -> str:
    text = str(error)
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return "connection timed out"
    for needle, reason in (
        ("Name or service not known", "host name not found"),
        ("Temporary failure in name resolution", "host name not found"),
        ("nodename nor servname", "host name not found"),
        ("Connection refused", "connection refused"),
        ("Connection reset", "connection reset"),
        ("No route to host", "no route to host"),
    ):
        if needle in text:
            return reason
    return type(error).__name__


def _spool_items(
    items: Iterator[tuple[str, Any]],
    what: str,
    transform: Callable[[str, Any], dict[str, Any]],
    spool: Spool,
) -> None:
    key = None
    try:
        for key, value in items:
            spool.write(transform(key, value))
    except Truncated:
        raise Transient(f"the body ended early after record {spool.count}") from None
    except (ValueError, TypeError, AttributeError) as error:  # Invalid is a ValueError
        raise _malformed(what, spool.count, key, str(error) or type(error).__name__) from None


def _malformed(what: str, count: int, key: str | None, detail: str) -> Malformed:
    after = f"after record {count} (key {key!r})" if key is not None else f"at record {count}"
    return Malformed(
        f"Kubecost returned a malformed payload for {what}, {after}: {_snippet(detail, 300)}. "
        "No record of this day was emitted and the state did not advance past it. Check "
        "the Kubecost version and logs; report the payload if it persists.",
        detail,
    )
