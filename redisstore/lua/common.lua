-- Helpers shared by every tollgate script. Lua 5.1 numbers are doubles, exact only below
-- 2^53: microsecond timestamps (~1.8e15) fit, nanosecond ones (~1.8e18) do not. So the
-- clock is kept in microseconds, a rate's theoretical arrival time (TAT) is stored as a
-- decimal string of unix nanoseconds and handled as (seconds, nanoseconds), and every
-- number handed back to Redis goes through I() because tostring() would print 1.8e+15.

local function I(x) return string.format('%d', x) end

-- clock returns the server's TIME plus a test offset, as unix microseconds and as
-- (seconds, nanoseconds within the second).
local function clock(off)
  local t = redis.call('TIME')
  local us = tonumber(t[1]) * 1000000 + tonumber(t[2]) + off
  local s = math.floor(us / 1000000)
  local r = us - s * 1000000
  if r < 0 then s, r = s - 1, r + 1000000 elseif r >= 1000000 then s, r = s + 1, r - 1000000 end
  return us, s, r * 1000
end

-- split parses a decimal unix-nanosecond string into (seconds, nanoseconds).
local function split(str)
  local l = #str
  if l <= 9 then return 0, tonumber(str) end
  return tonumber(string.sub(str, 1, l - 9)), tonumber(string.sub(str, l - 8))
end

-- join renders (seconds, nanoseconds) as a decimal unix-nanosecond string; ns may be any
-- integer below 2^53 in magnitude and is carried into the seconds.
local function join(s, ns)
  local c = math.floor(ns / 1000000000)
  s, ns = s + c, ns - c * 1000000000
  if ns < 0 then s, ns = s - 1, ns + 1000000000 elseif ns >= 1000000000 then s, ns = s + 1, ns - 1000000000 end
  return string.format('%d%09d', s, ns)
end
