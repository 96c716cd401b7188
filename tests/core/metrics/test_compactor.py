"""Which counter baselines a compaction pass looks up and which it passes on (no database)."""

from __future__ import annotations

from hearth_core.metrics.chunks import WINDOW_US as W
from hearth_core.metrics.compactor import baselines_to_find, baselines_to_pass_on

T = 1_000 * W


def test_lookups_only_for_new_windows_without_the_window_before_in_the_pass() -> None:
    keys = [(1, T), (1, T + W), (2, T + W), (3, T), (3, T + 2 * W), (4, T + W)]
    existing = {(4, T + W): b"chunk"}
    # (1, T + W) and not (3, T + 2 * W): only the window just before counts
    assert baselines_to_find(keys, existing) == [(1, T), (2, T + W), (3, T), (3, T + 2 * W)]
    assert baselines_to_find([], {}) == []


def test_late_windows_pass_their_last_value_on() -> None:
    keys = [(1, T), (1, T + W), (2, T), (3, T + W), (4, T - W), (5, T)]
    last = [1.0, 2.0, 3.0, 4.0, 5.0, None]
    # (1, T) is followed in the pass; nothing after the newest window (T + W) exists yet;
    # (5, T) has no last value (staleness markers only)
    assert baselines_to_pass_on(keys, last, T + W) == ([2, 4], [T + W, T], [3.0, 5.0])
    assert baselines_to_pass_on([(1, T)], [1.0], T) == ([], [], [])
    assert baselines_to_pass_on([], [], T) == ([], [], [])


def test_a_pass_of_late_samples_only_passes_on_to_the_windows_written_before() -> None:
    # every key is late: the newest window written is later than any in the pass
    keys = [(1, T - 2 * W), (2, T - W)]
    assert baselines_to_pass_on(keys, [1.0, 2.0], T) == ([1, 2], [T - W, T], [1.0, 2.0])
    assert baselines_to_pass_on(keys, [1.0, 2.0], T - W) == ([1], [T - W], [1.0])
