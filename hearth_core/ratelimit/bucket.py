"""The token bucket, as one Lua script run atomically inside Redis.

Exactness: a bucket refills ``limit`` tokens per ``window`` µs. Tokens are kept as integers in
units of 1/window_us of a token, so a microsecond of refill adds exactly ``limit`` units and no
fraction is ever rounded away (Lua numbers are doubles, exact below 2^53: the policy bounds keep
capacity * window_us below that). The clock is Redis's TIME, one clock for every worker.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

# KEYS[1] bucket hash {u = units, ts = µs}; ARGV: limit, window_us, capacity, cost, peek(0/1)
# Returns {allowed, units_after, now_us} with big numbers as strings (Redis truncates numbers).
SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local full = tonumber(ARGV[3]) * window
local need = tonumber(ARGV[4]) * window
local peek = ARGV[5] == '1'
local state = redis.call('HMGET', KEYS[1], 'u', 'ts')
local units = full
if state[1] then
  local last = tonumber(state[2])
  units = tonumber(state[1])
  if now > last then
    units = math.min(full, units + (now - last) * limit)
  end
end
local allowed = 0
if not peek then
  if units >= need then
    allowed = 1
    units = units - need
  end
  redis.call('HSET', KEYS[1], 'u', string.format('%.0f', units), 'ts', string.format('%.0f', now))
  -- Idle buckets expire once they would be full again (plus a second): nothing is lost.
  redis.call('PEXPIRE', KEYS[1], math.ceil((full - units) / limit / 1000) + 1000)
end
return {allowed, string.format('%.0f', units), string.format('%.0f', now)}
"""

MAX_UNITS = 2**53


@dataclass(frozen=True)
class Params:
    limit: int
    window_sec: int
    capacity: int  # burst, or the limit

    @property
    def window_us(self) -> int:
        return self.window_sec * 1_000_000

    def fits(self) -> bool:
        return self.capacity * self.window_us < MAX_UNITS


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int  # whole tokens left
    reset_after: float  # seconds until the bucket is full
    retry_after: float  # seconds until ``cost`` tokens are there (0 when allowed)
    limit: int
    window_sec: int
    at_us: int = 0  # the bucket's clock (Redis TIME) when decided; 0 for local decisions


def decide(p: Params, allowed: bool, units: int, cost: int, at_us: int = 0) -> Decision:
    """Translate the bucket's integer state into the client-facing numbers."""
    w = p.window_us
    missing_to_full = p.capacity * w - units
    retry = 0.0 if allowed else max(0.0, (cost * w - units) / p.limit / 1e6)
    return Decision(
        allowed=allowed,
        remaining=units // w,
        reset_after=missing_to_full / p.limit / 1e6,
        retry_after=retry,
        limit=p.capacity,
        window_sec=p.window_sec,
        at_us=at_us,
    )


class LocalBucket:
    """The same arithmetic in-process, for when Redis is unreachable (per worker, approximate
    across workers, exact within one)."""

    def __init__(self, p: Params) -> None:
        self.p = p
        self.units = p.capacity * p.window_us
        self.ts = time.monotonic_ns() // 1000

    def take(self, cost: int) -> Decision:
        now = time.monotonic_ns() // 1000
        full = self.p.capacity * self.p.window_us
        self.units = min(full, self.units + (now - self.ts) * self.p.limit)
        self.ts = now
        need = cost * self.p.window_us
        allowed = self.units >= need
        if allowed:
            self.units -= need
        return decide(self.p, allowed, self.units, cost)
