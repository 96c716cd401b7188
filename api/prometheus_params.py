"""Parameters of the Prometheus query API, read as Prometheus 2.42 reads them
(web/api/v1/api.go): a POST's form body before the URL's query string (Go's ``r.Form``), the
first value of a repeated scalar parameter, times as RFC 3339 or float Unix seconds, durations
as Prometheus durations (``5m``, ``1h30m``) or float seconds — and the same error messages
(``invalid parameter "start": cannot parse "x" to a valid timestamp``)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import MultiDict

from api.jsonio import read_limited
from hearth_core.metrics.promql import QueryFailed

FORM = "application/x-www-form-urlencoded"
NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000
# Times beyond ±2^53 ms (±285,000 years) are refused: the engine computes in int64 ms.
MAX_ABS_MS = 2**53
# Prometheus's spellings of the earliest and latest time (its defaults for start and end).
MIN_TIME = "-292273086-05-16T16:47:06Z"
MAX_TIME = "292277025-08-18T07:12:54.999999999Z"
_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|([+-])(\d{2}):(\d{2}))"
)
# prometheus/common model.ParseDuration: units in this order, each at most once.
_DURATION = re.compile(
    r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?"
)
_UNIT_MS = (365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1)
_INT64 = 2**63
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Params:
    """One request's parameters as Go's ``r.Form`` holds them."""

    def __init__(self, values: MultiDict[str]) -> None:
        self._values = values

    def get(self, name: str) -> str:
        """The first value, or "" when absent (Go's ``FormValue``)."""
        return self._values.get(name, "")

    def getall(self, name: str) -> list[str]:
        return self._values.getall(name, [])


async def read_params(request: web.Request, max_body: int) -> Params:
    """A form-encoded POST body's parameters, then the query string's. Other bodies are
    ignored, as Go's ``ParseForm`` ignores them."""
    values: MultiDict[str] = MultiDict()
    if request.method == "POST" and request.content_type == FORM:
        body = await read_limited(request, max_body)
        text = body.decode("utf-8", errors="replace")
        values.extend(parse_qsl(text, keep_blank_values=True))
    values.extend(request.query)
    return Params(values)


def go_quote(s: str) -> str:
    """``s`` quoted as Go's ``%q`` quotes it (close enough for messages)."""
    out = ['"']
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif not c.isprintable():
            out.append(f"\\x{ord(c):02x}" if ord(c) < 0x80 else f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return "".join(out) + '"'


def invalid(name: str, why: str) -> QueryFailed:
    return QueryFailed("bad_data", f"invalid parameter {go_quote(name)}: {why}")


def _go_round(x: float) -> float:
    """Go's math.Round: half away from zero."""
    return math.copysign(math.floor(abs(x) + 0.5), x)


def parse_time_ns(s: str) -> int:
    """``s`` as ns since the epoch (Prometheus's parseTime), or ValueError with its message."""
    if _FLOAT.fullmatch(s):
        t = float(s)
        if math.isfinite(t) and abs(t) * 1000 <= MAX_ABS_MS:
            frac, whole = math.modf(t)
            return int(whole) * NS_PER_S + int(_go_round(frac * 1000) / 1000 * NS_PER_S)
    elif s == MIN_TIME:
        return -MAX_ABS_MS * NS_PER_MS
    elif s == MAX_TIME:
        return MAX_ABS_MS * NS_PER_MS
    elif (m := _RFC3339.fullmatch(s)) is not None:
        try:
            tz = UTC
            if m.group(8) != "Z":
                offset = timedelta(hours=int(m.group(10)), minutes=int(m.group(11)))
                tz = timezone(-offset if m.group(9) == "-" else offset)
            y, mo, d, h, mi, sec = (int(m.group(i)) for i in range(1, 7))
            dt = datetime(y, mo, d, h, mi, sec, tzinfo=tz)
        except ValueError:
            pass
        else:
            ns = (dt - _EPOCH) // timedelta(microseconds=1) * 1000
            return ns + int((m.group(7) or "0").ljust(9, "0"))
    raise ValueError(f"cannot parse {go_quote(s)} to a valid timestamp")


def ms(ns: int) -> int:
    """Prometheus's timestamp.FromTime: ns floored to ms."""
    return ns // NS_PER_MS


def time_ms(params: Params, name: str, *, default: int | None = None, wrap: bool = False) -> int:
    """The time parameter ``name`` in ms. Absent: ``default`` if given, else an error (query
    range's start and end are required). ``wrap`` adds Prometheus's "Invalid time value for
    'x'" (parseTimeParam's wording, for the parameters with defaults)."""
    raw = params.get(name)
    if raw == "" and default is not None:
        return default
    try:
        return ms(parse_time_ns(raw))
    except ValueError as exc:
        why = f"Invalid time value for '{name}': {exc}" if wrap else str(exc)
        raise invalid(name, why) from None


def optional_time_ms(params: Params, name: str) -> int | None:
    """A time parameter of the metadata routes (None when absent: Prometheus's minTime or
    maxTime, i.e. unbounded)."""
    raw = params.get(name)
    if raw in ("", MIN_TIME, MAX_TIME):
        return None
    return time_ms(params, name, wrap=True)


def parse_duration_ns(s: str) -> int:
    """``s`` as ns (Prometheus's parseDuration), or ValueError with its message."""
    if _FLOAT.fullmatch(s):
        d = float(s) * NS_PER_S
        if d >= _INT64 or d < -_INT64:
            raise ValueError(f"cannot parse {go_quote(s)} to a valid duration. It overflows int64")
        return int(d)
    if s not in ("", "0") and (m := _DURATION.fullmatch(s)) is not None:
        total_ms = sum(int(g) * unit for g, unit in zip(m.groups(), _UNIT_MS, strict=True) if g)
        if total_ms * NS_PER_MS < _INT64:
            return total_ms * NS_PER_MS
    raise ValueError(f"cannot parse {go_quote(s)} to a valid duration")


def duration_ns(params: Params, name: str) -> int:
    try:
        return parse_duration_ns(params.get(name))
    except ValueError as exc:
        raise invalid(name, str(exc)) from None


def timeout_s(params: Params, limit_s: float) -> float:
    """The query's time budget: its ``timeout`` parameter, never more than ``limit_s``."""
    if params.get("timeout") == "":
        return limit_s
    return min(duration_ns(params, "timeout") / NS_PER_S, limit_s)
