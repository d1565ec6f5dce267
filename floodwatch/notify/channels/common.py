"""What the paging channels share.

- secrets from ``${ENV}`` or from a file named by a ``*_file`` option (`SecretPair`, `read_secret`);
- a missing optional package named with the extra that installs it (`require`);
- one HTTP exchange (urllib3, set up from the environment as requests would), whose failures
  are described without the URL (it may hold a key) and judged once: nothing sent
  (retryable), or maybe sent (unknown, or retryable where a resend is safe) (`HttpPoster`);
- a provider's codes turned into outcomes by one ordered table per provider (`Rule`, `judge`);
- message fields for the templates of webhook bodies and SMS parameters (`Template`);
- phone numbers as mainland providers want them, and masked wherever text may be logged.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import requests
import urllib3
from pydantic import SecretStr

from floodwatch import __version__
from floodwatch.durations import AS_TEXT, positive_at_most
from floodwatch.errors import FloodwatchError
from floodwatch.notify.base import DeliveryResult, Message, Outcome
from floodwatch.plugins import PluginContext
from floodwatch.roster.model import Person, mask_phone
from floodwatch.yamlsource import AtKey

log = logging.getLogger(__name__)

Timeout = Annotated[timedelta, positive_at_most(timedelta(minutes=5)), AS_TEXT]
"""Seconds one exchange with a provider may take (``10s``); a send never waits much longer."""
DEFAULT_TIMEOUT = timedelta(seconds=10)
MAX_ANSWER = 256 * 1024  # bytes of an answer worth reading: providers answer in a few hundred


# -- optional packages ------------------------------------------------------------------------


class MissingExtra(FloodwatchError):
    """A channel's optional package is not installed."""


def require(module: str, *, channel: str, package: str, extra: str) -> ModuleType:
    """Import `module` (from `package`), or raise MissingExtra naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.partition(".")[0]
        why = "" if getattr(exc, "name", None) in (top, module, None) else f" ({exc})"
        raise MissingExtra(
            f"the {channel} channel needs the Python package {package}, which is not "
            f"installed{why}: pip install 'floodwatch[{extra}]'"
        ) from None


def installed(module: str, *, channel: str, package: str, extra: str) -> None:
    """`require` for an Options validator: the missing package is a config problem, told at
    its place by `floodwatch check` before anything starts."""
    try:
        require(module, channel=channel, package=package, extra=extra)
    except MissingExtra as exc:
        raise ValueError(str(exc)) from None


# -- secrets ----------------------------------------------------------------------------------


def secret_pair(options: Any, name: str, *, required: bool) -> None:
    """Check that `name` (a `Secret`, ``${ENV}`` only) and ``{name}_file`` are not both given,
    and that one is when `required`. Called from an Options model validator."""
    given = getattr(options, name) is not None
    from_file = getattr(options, f"{name}_file") is not None
    if given and from_file:
        raise AtKey(f"{name}_file", f"give {name} or {name}_file, not both")
    if required and not (given or from_file):
        raise ValueError(
            f"{name} is required: write {name}: ${{VARIABLE}} (read from the environment) "
            f"or {name}_file: PATH (a file holding it)"
        )


def read_secret(
    value: SecretStr | None, file: str | None, option: str, context: PluginContext
) -> SecretStr | None:
    """The secret itself, from the environment (already in `value`) or from `file` (relative
    to the config's directory; surrounding whitespace and the final newline dropped)."""
    if value is not None or file is None:
        return value
    path = context.base_dir / Path(file)
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise FloodwatchError(f"{option}_file: cannot read {path}: {why}") from None
    if not text:
        raise FloodwatchError(f"{option}_file: {path} is empty")
    return SecretStr(text)


def given(value: SecretStr | None, option: str) -> SecretStr:
    """A secret the Options require (so checked at load) as a value that is there."""
    if value is None:
        raise FloodwatchError(f"{option} is required: write {option}: ${{VARIABLE}}")
    return value


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret (as written, and URL-encoded) replaced by ``***``."""
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, "***").replace(quote(secret, safe=""), "***")
    return text


# -- phone numbers ----------------------------------------------------------------------------

_MAINLAND_MOBILE = re.compile(r"\+861[3-9]\d{9}")
_DIGIT_RUN = re.compile(r"\+?\d{7,}")
_NATIONAL = re.compile(r"1[3-9]\d{9}")


def mainland_mobile(person: Person) -> str | None:
    """The person's first mainland China mobile number in E.164 (``+8613800000001``)."""
    return next((p for p in person.phones if _MAINLAND_MOBILE.fullmatch(p)), None)


def national(number: str) -> str:
    """``+8613800000001`` -> ``13800000001``: the form mainland providers and robots expect."""
    return number.removeprefix("+86")


def masked(number: str) -> str:
    """A phone number for a log line, whether written with ``+86`` or without."""
    return mask_phone(number if number.startswith("+") else f"+86{number}")


def mask_phones(text: str) -> str:
    """Every run of 7 or more digits in `text` masked as a phone number (provider messages may
    echo the number they refused; request ids lose nothing that matters). Redact secrets
    first: masking may leave part of one unrecognisable."""
    return _DIGIT_RUN.sub(
        lambda m: masked(m.group(0)) if _NATIONAL.fullmatch(m.group(0)) else mask_phone(m.group(0)),
        text,
    )


# -- code tables ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One row of a provider's table: its `code` (and, where the provider uses one code for
    several things, words its message `contains`) -> the outcome, what it means in words an
    officer can act on, and how long to wait before the next send when the provider says so."""

    code: str
    outcome: Outcome
    meaning: str
    retry_after: float | None = None
    contains: str | None = None

    def matches(self, code: str, message: str) -> bool:
        return self.code == code and (
            self.contains is None or self.contains.lower() in message.lower()
        )


def judge(
    table: Sequence[Rule],
    code: str,
    message: str,
    *,
    provider: str,
    unmapped: Outcome,
    provider_id: str | None = None,
) -> DeliveryResult:
    """The outcome of a provider's answer `code` by its table (first matching row); a code
    the table does not know gets `unmapped`, said as such in the detail."""
    rule = next((r for r in table if r.matches(code, message)), None)
    said = " ".join(message.split())[:300]  # the caller redacts secrets, then masks numbers
    answered = f"{provider} {code}: {said}" if said else f"{provider} {code}"
    if rule is None:
        return DeliveryResult(
            unmapped, f"{answered} (a code floodwatch does not know)", provider_id, code
        )
    detail = f"{answered} ({rule.meaning})"
    return DeliveryResult(rule.outcome, detail, provider_id, code, rule.retry_after)


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date), or None when
    there is none or it cannot be read."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


# -- one HTTP exchange ------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What the far end answered: status, headers, the first MAX_ANSWER bytes of the body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class HttpPoster:
    """POSTs for one notifier over urllib3, the transport under requests, without requests'
    work around each call (two thirds of a POST's CPU on loopback, in a fan-out of thousands
    of pages): one pool per thread and host, which keeps its connection alive between POSTs.

    Set up as requests would for the URL, from the environment, once: HTTP_PROXY, HTTPS_PROXY
    and NO_PROXY (a proxy's user:password@ sent as Proxy-Authorization), the CA bundle of
    REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE, else certifi's; certificates and host names are
    always checked. Redirects are not followed, and nothing is retried here: the dispatcher
    decides what is sent again."""

    def __init__(self, timeout: timedelta, secrets: Sequence[str]) -> None:
        self._timeout = timeout.total_seconds()
        self._timeouts = urllib3.Timeout(connect=self._timeout, read=self._timeout)
        self._secrets = tuple(secrets)
        self._local = threading.local()

    def _pool(self, url: str) -> urllib3.PoolManager:
        """This thread's pool for `url`'s scheme, host and port (not the whole URL: a signed
        robot's URL differs in every message)."""
        pools: dict[tuple[str, str], urllib3.PoolManager] = self._local.__dict__.setdefault(
            "pools", {}
        )
        parts = urlsplit(url)
        origin = (parts.scheme, parts.netloc)
        pool = pools.get(origin)
        if pool is None:
            pool = pools[origin] = _pool_for(url)
        return pool

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], *, resend_safe: bool
    ) -> Answer | DeliveryResult:
        """The answer, or the outcome of an exchange that got none. Redirects are not followed:
        a page is never posted again somewhere the config did not name."""
        try:
            pool = self._pool(url)
            response = pool.urlopen(
                "POST", url, body=body, headers={**HEADERS, **headers},
                timeout=self._timeouts, redirect=False, retries=False, preload_content=False,
            )  # fmt: skip
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            return self.failure(exc, resend_safe=resend_safe)
        try:
            content = response.read(MAX_ANSWER, decode_content=True) or b""
            if len(content) >= MAX_ANSWER or response.length_remaining:
                response.close()  # more than is worth reading, never waited for: not kept
            return Answer(response.status, dict(response.headers), content)
        except (OSError, urllib3.exceptions.HTTPError) as exc:  # while the answer was read
            response.close()
            return self.ambiguous(
                f"connection lost while reading the answer: {_why(exc)}", resend_safe=resend_safe
            )
        finally:
            response.release_conn()

    def failure(self, exc: BaseException, *, resend_safe: bool) -> DeliveryResult:
        """Nothing sent -> retryable; maybe sent -> unknown (retryable where a resend is safe)."""
        t = f"{self._timeout:g} s"
        if isinstance(exc, urllib3.exceptions.ProxyError):  # the proxy's own failure
            exc = exc.original_error
        if isinstance(exc, urllib3.exceptions.NewConnectionError):  # refused, unresolvable
            return self.result(Outcome.RETRYABLE, f"cannot connect: {_why(exc)}")
        if isinstance(exc, urllib3.exceptions.ConnectTimeoutError):
            return self.result(Outcome.RETRYABLE, f"could not connect within {t}")
        if isinstance(exc, urllib3.exceptions.SSLError):
            return self.result(Outcome.PERMANENT, f"TLS failed: {_why(exc)}")
        if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
            return self.ambiguous(
                f"no answer within {t} after the request was sent", resend_safe=resend_safe
            )
        if isinstance(exc, urllib3.exceptions.ProtocolError | OSError):
            return self.ambiguous(
                f"connection lost after the request was sent: {_why(exc)}", resend_safe=resend_safe
            )
        return self.result(Outcome.PERMANENT, f"{type(exc).__name__}: {_why(exc)}")

    def ambiguous(self, detail: str, *, resend_safe: bool) -> DeliveryResult:
        if resend_safe:
            return self.result(Outcome.RETRYABLE, f"{detail} (a resend is safe)")
        return self.result(Outcome.UNKNOWN, f"{detail}: the page may have gone out")

    def result(self, outcome: Outcome, detail: str, **more: Any) -> DeliveryResult:
        return DeliveryResult(outcome, mask_phones(redact(detail, self._secrets)), **more)

    def clean(self, result: DeliveryResult) -> DeliveryResult:
        """`result` with no secret and no whole phone number left in its detail."""
        return replace(result, detail=mask_phones(redact(result.detail, self._secrets)))


HEADERS = {"User-Agent": f"floodwatch/{__version__}", "Accept": "*/*"}


def _pool_for(url: str) -> urllib3.PoolManager:
    """A pool of one kept-alive connection for `url`'s host, set up from the environment as
    requests sets up a request to it (requests' own functions read it)."""
    bundle = (
        os.environ.get("REQUESTS_CA_BUNDLE")
        or os.environ.get("CURL_CA_BUNDLE")
        or requests.utils.DEFAULT_CA_BUNDLE_PATH
    )
    tls: dict[str, Any] = {"cert_reqs": "CERT_REQUIRED"}
    tls["ca_cert_dir" if os.path.isdir(bundle) else "ca_certs"] = bundle
    proxy = requests.utils.select_proxy(url, requests.utils.get_environ_proxies(url))
    if not proxy:
        return urllib3.PoolManager(num_pools=1, maxsize=1, **tls)
    proxy = proxy if "://" in proxy else f"http://{proxy}"
    if proxy.lower().startswith("socks"):
        raise ValueError(f"a SOCKS proxy is not supported: {proxy.partition('://')[0]}")
    user, password = requests.utils.get_auth_from_url(proxy)
    auth = urllib3.make_headers(proxy_basic_auth=f"{user}:{password}") if user else None
    return urllib3.ProxyManager(proxy, num_pools=1, maxsize=1, proxy_headers=auth, **tls)


def _why(exc: BaseException) -> str:
    """The deepest operating-system reason in an exception's chain, else its own words with
    any ``host=...`` or URL left out (a URL may carry a key)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return current.strerror
        nxt = current.__cause__ or current.__context__
        if nxt is None:
            nxt = next((a for a in current.args if isinstance(a, BaseException)), None)
            if nxt is None:
                nxt = getattr(current, "reason", None)
        current = nxt if isinstance(nxt, BaseException) else None
    text = re.sub(r"\w+://\S+|\(host=[^)]*\)|url: \S+", "", str(exc))
    text = re.sub(r"<[^>]* object at 0x[0-9a-f]+>:?", "", text).strip(" :")
    return text[:200] or type(exc).__name__


def http_outcome(
    answer: Answer, *, provider: str, now: datetime, resend_safe: bool
) -> DeliveryResult | None:
    """The outcome an HTTP status alone decides, or None for 2xx (the body decides then).

    408, 425, 429 and 503 say the request was not processed: retryable (after Retry-After).
    Other 5xx may come after the request was carried out: unknown (retryable where a resend is
    safe). 3xx: the URL moved, and a POST is not re-sent elsewhere; other 4xx: refused."""
    status = answer.status
    if 200 <= status < 300:
        return None
    said = f"{provider} answered HTTP {status}"
    code = str(status)
    if status in (408, 425, 429, 503):
        wait = retry_after(answer.headers.get("Retry-After"), now)
        return DeliveryResult(Outcome.RETRYABLE, said, None, code, wait)
    if status >= 500:
        if resend_safe:
            return DeliveryResult(Outcome.RETRYABLE, f"{said} (a resend is safe)", None, code)
        return DeliveryResult(Outcome.UNKNOWN, f"{said}: the page may have gone out", None, code)
    if 300 <= status < 400:
        return DeliveryResult(
            Outcome.PERMANENT, f"{said}: the URL has moved; configure the new one", None, code
        )
    return DeliveryResult(Outcome.PERMANENT, said, None, code)


# -- message fields for templates -------------------------------------------------------------

FIELDS = (
    "subject",
    "body",
    "first_line",
    "person",
    "address",
    "key",
    "alert",
    "page",
    "language",
    "reply_code",
)
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


def fields(message: Message) -> dict[str, Any]:
    """A page's fields by template name (`alert` and `reply_code` may be None)."""
    return {
        "subject": message.subject,
        "body": message.body,
        "first_line": next(iter(message.body.splitlines()), ""),
        "person": message.person,
        "address": message.address,
        "key": message.idempotency_key,
        "alert": message.alert_id,
        "page": message.page_id,
        "language": message.language,
        "reply_code": message.reply_code,
    }


class Template:
    """A text with ``{field}`` placeholders (``{{`` and ``}}`` for braces themselves)."""

    def __init__(self, text: str) -> None:
        unknown = [
            m.group(1)
            for m in _TOKEN.finditer(text)
            if m.group(1) is not None and m.group(1) not in FIELDS
        ]
        if unknown:
            raise ValueError(
                f"unknown placeholder {{{unknown[0]}}} in {text!r} "
                f"(known: {', '.join('{' + f + '}' for f in FIELDS)})"
            )
        self.text = text
        whole = _TOKEN.fullmatch(text)
        self._whole = whole.group(1) if whole else None

    def render(self, values: Mapping[str, Any]) -> Any:
        """The text with its placeholders filled; a text that is one placeholder alone gives
        the field's own value (a number stays a number in JSON, a missing alert is null)."""
        if self._whole is not None:
            return values[self._whole]

        def fill(m: re.Match[str]) -> str:
            if m.group(1) is None:
                return m.group(0)[0]
            value = values[m.group(1)]
            return "" if value is None else str(value)

        return _TOKEN.sub(fill, self.text)


def compile_templates(value: Any) -> Any:
    """A JSON-like value with every string compiled to a Template (ValueError names a bad one)."""
    if isinstance(value, str):
        return Template(value)
    if isinstance(value, Mapping):
        return {k: compile_templates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [compile_templates(v) for v in value]
    return value


def render_templates(value: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(value, Template):
        return value.render(values)
    if isinstance(value, Mapping):
        return {k: render_templates(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [render_templates(v, values) for v in value]
    return value
