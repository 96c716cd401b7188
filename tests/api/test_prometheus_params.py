"""Times and durations of the Prometheus query API, parsed as Prometheus 2.42 parses them
(web/api/v1/api.go parseTime / parseDuration, prometheus/common model.ParseDuration)."""

from __future__ import annotations

import pytest

from api.prometheus_params import (
    MAX_TIME,
    MIN_TIME,
    go_quote,
    ms,
    parse_duration_ns,
    parse_time_ns,
)

S = 1_000_000_000


@pytest.mark.parametrize(
    ("text", "want_ms"),
    [
        ("1700000000", 1_700_000_000_000),
        ("1700000000.123", 1_700_000_000_123),
        ("1700000000.1236", 1_700_000_000_124),  # rounded to ms, as Prometheus rounds
        ("-1.5", -1500),
        ("1e3", 1_000_000),
        (".5", 500),
        ("2023-11-14T22:13:20Z", 1_700_000_000_000),
        ("2023-11-14T22:13:20.5Z", 1_700_000_000_500),
        ("2023-11-14T22:13:20.123999999Z", 1_700_000_000_123),  # ns floored to ms
        ("2023-11-14T23:13:20+01:00", 1_700_000_000_000),
        ("2023-11-14T21:43:20-00:30", 1_700_000_000_000),
        ("1969-12-31T23:59:59.9995Z", -1),
    ],
)
def test_times(text: str, want_ms: int) -> None:
    assert ms(parse_time_ns(text)) == want_ms


@pytest.mark.parametrize(
    "text",
    [
        "",
        "now",
        "NaN",
        "Inf",
        "1e400",
        "1_000",
        " 1",
        "2023-11-14 22:13:20Z",
        "2023-11-14T22:13:20",
        "2023-13-14T22:13:20Z",
        "2023-11-14T22:13:60Z",
        "2023-11-14t22:13:20z",
    ],
)
def test_bad_times(text: str) -> None:
    with pytest.raises(ValueError, match=r"^cannot parse .* to a valid timestamp$"):
        parse_time_ns(text)


def test_prometheus_min_and_max_time_strings_are_the_ends_of_time() -> None:
    assert parse_time_ns(MIN_TIME) < parse_time_ns("-1e12") < parse_time_ns("1e12")
    assert parse_time_ns(MAX_TIME) > parse_time_ns("1e12")


@pytest.mark.parametrize(
    ("text", "want_ns"),
    [
        ("5m", 300 * S),
        ("1h30m", 5400 * S),
        ("1y", 365 * 86400 * S),
        ("2w3d", 17 * 86400 * S),
        ("30s500ms", 30_500_000_000),
        ("15", 15 * S),
        ("1.5", 1_500_000_000),
        ("0.0001", 100_000),
        ("0", 0),
        ("0s", 0),
        ("-5", -5 * S),
    ],
)
def test_durations(text: str, want_ns: int) -> None:
    assert parse_duration_ns(text) == want_ns


@pytest.mark.parametrize("text", ["", "5x", "1.5h", "5m1h", "-1m", "1 h", "h", "9999999999y"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match=r"^cannot parse .* to a valid duration$"):
        parse_duration_ns(text)


def test_overflowing_seconds_say_so() -> None:
    with pytest.raises(ValueError, match="It overflows int64"):
        parse_duration_ns("1e300")


def test_go_quote() -> None:
    assert go_quote('a"b\\c\n') == '"a\\"b\\\\c\\n"'
    assert go_quote("x\x01") == '"x\\x01"'
