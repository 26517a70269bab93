"""The budget's state in Redis, shared by every instance that uses the same Redis (see
`budget.py`). Its own module, so that redis-py is imported only by an app configured for
Redis."""

import redis

from ilert.budget import LONGEST_PAUSE, MAX_WAIT, Rate
from store.redis_backend import redis_errors

KEY = "ilert-app:ilert-budget"

# KEYS[1]: the budget's hash. ARGV: now, interval, burst, max_wait, LONGEST_PAUSE, MAX_WAIT.
# `budget.reserve` (and `budget.within_reach`) in Lua.
_RESERVE = """
local kept_tat = tonumber(redis.call('HGET', KEYS[1], 'tat')) or 0
local kept_pause = tonumber(redis.call('HGET', KEYS[1], 'paused_until')) or 0
local now, interval = tonumber(ARGV[1]), tonumber(ARGV[2])
local burst, max_wait = tonumber(ARGV[3]), tonumber(ARGV[4])
local paused_until = math.min(kept_pause, now + tonumber(ARGV[5]))
local tat = math.min(kept_tat, math.max(now, paused_until) + burst * interval + tonumber(ARGV[6]))
local due = math.max(paused_until, math.max(tat, now) + interval - burst * interval)
local wait = math.max(0, due - now)
local taken = 1
if wait > max_wait then taken = 0 else tat = math.max(tat, now + wait) + interval end
if tat ~= kept_tat or paused_until ~= kept_pause then
  redis.call('HSET', KEYS[1], 'tat', string.format('%.6f', tat),
             'paused_until', string.format('%.6f', paused_until))
  redis.call('PEXPIRE', KEYS[1], math.ceil((math.max(tat, paused_until) - now + 60) * 1000))
end
return {taken, string.format('%.6f', wait)}
"""
# KEYS[1]: the budget's hash. ARGV: now, interval, burst, seconds, LONGEST_PAUSE, MAX_WAIT.
# `budget.paused` (and `budget.within_reach`) in Lua.
_PAUSE = """
local tat = tonumber(redis.call('HGET', KEYS[1], 'tat')) or 0
local paused_until = tonumber(redis.call('HGET', KEYS[1], 'paused_until')) or 0
local now, interval = tonumber(ARGV[1]), tonumber(ARGV[2])
local burst, seconds = tonumber(ARGV[3]), tonumber(ARGV[4])
paused_until = math.min(paused_until, now + tonumber(ARGV[5]))
tat = math.min(tat, math.max(now, paused_until) + burst * interval + tonumber(ARGV[6]))
paused_until = math.max(paused_until, now + seconds)
tat = math.max(tat, paused_until + (burst - 1) * interval)
redis.call('HSET', KEYS[1], 'tat', string.format('%.6f', tat),
           'paused_until', string.format('%.6f', paused_until))
redis.call('PEXPIRE', KEYS[1], math.ceil((tat - now + 60) * 1000))
"""


class RedisState:
    """The two times in a Redis hash, changed by Lua scripts (atomic in Redis): shared by
    every instance that uses the same Redis. The times are the callers' clocks, which must
    agree (NTP), as they must for the sessions' expiry."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._reserve = client.register_script(_RESERVE)
        self._pause = client.register_script(_PAUSE)

    def reserve(self, now: float, rate: Rate, max_wait: float) -> tuple[bool, float]:
        with redis_errors():
            taken, wait = self._reserve(
                keys=[KEY], args=[now, rate.interval, rate.burst, max_wait, LONGEST_PAUSE, MAX_WAIT]
            )
        return bool(taken), float(wait)

    def pause(self, now: float, rate: Rate, seconds: float) -> None:
        with redis_errors():
            self._pause(
                keys=[KEY], args=[now, rate.interval, rate.burst, seconds, LONGEST_PAUSE, MAX_WAIT]
            )

    def paused_until(self) -> float:
        with redis_errors():
            value = self.client.hget(KEY, "paused_until")
        return float(value) if value else 0.0
