"""Pure-Python reference for ``hearth_core._native.decode_points``.

Independent of the Rust code: the stdlib ``json`` and ``csv`` modules parse, and the
rules below restate the validation contract of ``native/src/ingest/point.rs``:

* checks run in a fixed order and the first failure is the reason: a duplicated
  point field, unknown fields, missing ``namespace``/``name``/``value``, then
  ``namespace``, ``name``, ``labels``, ``value``, ``timestamp``, the time window;
* JSON numbers outside the float64 range, ``NaN``/``Infinity`` literals, lone
  surrogate escapes and nesting deeper than the parser allows make the text invalid
  JSON (the native parser, sonic-rs, rejects them);
* times are µs since the Unix epoch; epoch numbers are seconds, or milliseconds when
  ``abs(n) >= 1e11``, rounded to the nearest µs with halves away from zero.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tests.native import reference

NAME_PATTERN = "^[A-Za-z_:][A-Za-z0-9_:.]*$"
LABEL_KEY_PATTERN = "^[A-Za-z_][A-Za-z0-9_]*$"
_NAME_RE = re.compile(r"[A-Za-z_:][A-Za-z0-9_:.]*")
_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_RFC3339_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]{1,9}))?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
I64_MIN, I64_MAX = -(2**63), 2**63 - 1
FIELDS = ("namespace", "name", "labels", "value", "timestamp")

BAD_TIMESTAMP = "timestamp: not RFC 3339 or epoch seconds/milliseconds"
OUTSIDE_WINDOW = "timestamp outside the accepted window"
BAD_VALUE = "value: must be a finite number"
NOT_OBJECT = "item: must be a JSON object"
BAD_LINE = "item: not valid JSON"


class BodyError(ValueError):
    """The reference's counterpart of ``IngestError``."""


class Obj(list):  # type: ignore[type-arg]
    """A JSON object as its list of (key, value) pairs, duplicates kept."""


class _Absent:
    pass


ABSENT = _Absent()


@dataclass
class Accepted:
    hash: int
    namespace: str
    name: str
    labels: dict[str, str]
    time_us: int
    value: float


@dataclass
class Result:
    total: int = 0
    accepted: list[Accepted] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Window:
    now_us: int
    min_time_us: int
    max_time_us: int


# -- time --------------------------------------------------------------------------


def days_from_civil(y: int, m: int, d: int) -> int:
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m - 3 if m > 2 else m + 9) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _days_in_month(y: int, m: int) -> int:
    if m == 2:
        return 29 if (y % 4 == 0 and y % 100 != 0) or y % 400 == 0 else 28
    return 30 if m in (4, 6, 9, 11) else 31


def parse_rfc3339(s: str) -> int | None:
    m = _RFC3339_RE.fullmatch(s)
    if m is None:
        return None
    y, mo, d, hh, mi, ss = (int(g) for g in m.groups()[:6])
    frac, off = m.group(7), m.group(8)
    if not 1 <= mo <= 12 or not 1 <= d <= _days_in_month(y, mo):
        return None
    if hh > 23 or mi > 59 or ss > 59:
        return None
    offset = 0
    if off not in ("Z", "z"):
        oh, om = int(off[1:3]), int(off[4:6])
        if oh > 23 or om > 59:
            return None
        offset = (oh * 3600 + om * 60) * (-1 if off[0] == "-" else 1)
    micros = int((frac or "").ljust(6, "0")[:6])
    secs = days_from_civil(y, mo, d) * 86400 + hh * 3600 + mi * 60 + ss - offset
    return secs * 1_000_000 + micros


def epoch_us(n: float) -> int | None:
    if not math.isfinite(n):
        return None
    x = n * (1e3 if abs(n) >= 1e11 else 1e6)
    if math.isinf(x):
        return I64_MAX if x > 0 else I64_MIN
    if abs(x) >= 2.0**52:  # already integral
        r = int(x)
    else:  # exact: ROUND_HALF_UP rounds halves away from zero, like Rust's f64::round
        r = int(Decimal(x).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return max(I64_MIN, min(I64_MAX, r))


def parse_float_literal(s: str) -> float | None:
    return float(s) if _FLOAT_RE.fullmatch(s) else None


# -- validation --------------------------------------------------------------------


def shown(s: str) -> str:
    return s if len(s) <= 64 else s[:64] + "…"


def _check_name(fld: str, v: Any) -> str:
    if not isinstance(v, str):
        raise _Reject(f"{fld}: must be a string")
    if not 1 <= len(v) <= 200:
        raise _Reject(f"{fld}: must be 1 to 200 characters")
    if not _NAME_RE.fullmatch(v):
        raise _Reject(f"{fld}: must match {NAME_PATTERN}")
    return v


class _Reject(Exception):
    pass


def _check_labels(v: Any) -> dict[str, str]:
    if v is None or v is ABSENT:
        return {}
    if not isinstance(v, Obj):
        raise _Reject("labels: must be a JSON object")
    if len(v) > 64:
        raise _Reject("labels: at most 64 labels")
    out: dict[str, str] = {}
    for k, val in v:
        if not _KEY_RE.fullmatch(k):
            raise _Reject(f"labels.{shown(k)}: key must match {LABEL_KEY_PATTERN}")
        if len(k) > 128:
            raise _Reject(f"labels.{shown(k)}: key longer than 128 characters")
        if not isinstance(val, str):
            raise _Reject(f"labels.{k}: must be a string")
        if len(val) > 1024:
            raise _Reject(f"labels.{k}: longer than 1024 characters")
        if k in out:
            raise _Reject(f"labels.{k}: duplicate label")
        out[k] = val
    return out


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def validate(fields: dict[str, Any], dup: str | None, unknown: list[str], w: Window) -> Accepted:
    """``fields`` maps each present point field to its (parsed) value."""
    if dup is not None:
        raise _Reject(f"duplicate field {shown(dup)}")
    if unknown:
        names = ", ".join(shown(k) for k in unknown)
        raise _Reject(f"unknown field{'s' if len(unknown) > 1 else ''} {names}")
    missing = [f for f in ("namespace", "name", "value") if f not in fields]
    if missing:
        raise _Reject(f"missing field{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    ns = _check_name("namespace", fields["namespace"])
    name = _check_name("name", fields["name"])
    labels = _check_labels(fields.get("labels", ABSENT))
    value = fields["value"]
    if not _is_number(value) or not math.isfinite(float(value)):
        raise _Reject(BAD_VALUE)
    ts = fields.get("timestamp")
    if ts is None:
        t: int | None = w.now_us
    elif _is_number(ts):
        t = epoch_us(float(ts))
    elif isinstance(ts, str):
        t = parse_rfc3339(ts)
    else:
        t = None
    if t is None:
        raise _Reject(BAD_TIMESTAMP)
    if not w.min_time_us <= t <= w.max_time_us:
        raise _Reject(OUTSIDE_WINDOW)
    h = reference.series_hash(ns, name, labels)
    return Accepted(h, ns, name, labels, t, float(value) + 0.0)  # -0.0 is stored as 0.0


def _feed(res: Result, item: Any, w: Window) -> None:
    index = res.total
    res.total += 1
    if not isinstance(item, Obj):
        res.rejected.append((index, NOT_OBJECT))
        return
    fields: dict[str, Any] = {}
    dup: str | None = None
    unknown: list[str] = []
    for k, v in item:
        if k in FIELDS:
            if k in fields:
                dup = k if dup is None else dup
            else:
                fields[k] = v
        else:
            unknown.append(k)
    try:
        res.accepted.append(validate(fields, dup, unknown, w))
    except _Reject as e:
        res.rejected.append((index, str(e)))


# -- JSON --------------------------------------------------------------------------


def _bad_constant(s: str) -> Any:
    raise ValueError(f"{s} is not JSON")


def _finite_float(s: str) -> float:
    f = float(s)
    if math.isinf(f):
        raise ValueError("number out of range")
    return f


def _finite_int(s: str) -> int:
    if math.isinf(float(s)):
        raise ValueError("number out of range")
    return int(s)


def _has_surrogate(v: Any) -> bool:
    if isinstance(v, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in v)
    if isinstance(v, list):  # also Obj
        return any(_has_surrogate(x) for x in v)
    if isinstance(v, tuple):
        return any(_has_surrogate(x) for x in v)
    return False


def loads(text: str | bytes) -> Any:
    """Strict JSON: raises ValueError where the native parser rejects the text."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")  # UnicodeDecodeError is a ValueError
    v = json.loads(
        text,
        object_pairs_hook=Obj,
        parse_constant=_bad_constant,
        parse_float=_finite_float,
        parse_int=_finite_int,
    )
    if _has_surrogate(v):
        raise ValueError("lone surrogate")
    return v


def decode_json(body: bytes, w: Window) -> Result:
    try:
        doc = loads(body)
    except (ValueError, RecursionError) as e:
        raise BodyError(f"body is not valid JSON: {e}") from e
    if isinstance(doc, Obj):
        if len(doc) != 1 or doc[0][0] != "points" or not isinstance(doc[0][1], list):
            raise BodyError("shape")
        doc = doc[0][1]
    if not isinstance(doc, list) or isinstance(doc, Obj):
        raise BodyError("shape")
    res = Result()
    for item in doc:
        _feed(res, item, w)
    return res


def decode_ndjson(body: bytes, w: Window) -> Result:
    res = Result()
    for line in body.split(b"\n"):
        if not line.strip(b" \t\r"):
            continue
        try:
            item = loads(line)
        except (ValueError, RecursionError):
            res.rejected.append((res.total, BAD_LINE))
            res.total += 1
            continue
        _feed(res, item, w)
    return res


# -- CSV ---------------------------------------------------------------------------


def decode_csv(body: bytes, w: Window) -> Result:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BodyError("CSV body is not valid UTF-8") from e
    text = text.removeprefix("\ufeff")
    rows = (r for r in csv.reader(io.StringIO(text, newline="")) if r)
    header = next(rows, None)
    if header is None:
        raise BodyError("CSV body has no header row")
    pos: dict[str, int] = {}
    for i, col in enumerate(header):
        if col not in FIELDS:
            raise BodyError(f"CSV header: unknown column {col!r}")
        if col in pos:
            raise BodyError(f"CSV header: duplicate column {col!r}")
        pos[col] = i
    for col in ("namespace", "name", "value"):
        if col not in pos:
            raise BodyError(f"CSV header: missing column {col!r}")
    res = Result()
    for row in rows:
        if len(row) != len(header):
            res.rejected.append((res.total, f"row: expected {len(header)} fields, got {len(row)}"))
            res.total += 1
            continue
        fields: dict[str, Any] = {"namespace": row[pos["namespace"]], "name": row[pos["name"]]}
        raw_value = row[pos["value"]]
        num = parse_float_literal(raw_value)
        fields["value"] = raw_value if num is None else num
        if "labels" in pos and row[pos["labels"]] != "":
            try:
                fields["labels"] = loads(row[pos["labels"]])
            except (ValueError, RecursionError):
                fields["labels"] = "not json"
        if "timestamp" in pos:
            ts = row[pos["timestamp"]]
            num = parse_float_literal(ts) if ts else None
            fields["timestamp"] = None if ts == "" else (ts if num is None else num)
        index = res.total
        res.total += 1
        try:
            res.accepted.append(validate(fields, None, [], w))
        except _Reject as e:
            res.rejected.append((index, str(e)))
    return res


def decode(body: bytes, fmt: str, w: Window) -> Result:
    if fmt == "json":
        return decode_json(body, w)
    if fmt == "ndjson":
        return decode_ndjson(body, w)
    if fmt == "csv":
        return decode_csv(body, w)
    raise BodyError(f"unknown format {fmt!r}")
