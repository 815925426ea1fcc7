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

-- fdiv is floor(x / d) for integers 0 <= x, 0 < d below 2^53, corrected for the rounding
-- of the double division.
local function fdiv(x, d)
  local q = math.floor(x / d)
  while q > 0 and q * d > x do q = q - 1 end
  while (q + 1) * d <= x do q = q + 1 end
  return q
end

-- interval is ceil(n * P / L) nanoseconds, the time n units of a rate of L per P take to
-- refill, given qP = floor(P / L) and rP = P mod L (computed exactly by the client). The
-- split keeps every product below 2^53 for any realistic n, P and L, so the result equals
-- the memory store's 128-bit integer math.
local function interval(n, qP, rP, L)
  if n <= 0 then return 0 end
  local gq, gr = 0, n
  if n * rP >= 9007199254740992 then
    gq = fdiv(n, L)
    gr = n - gq * L
  end
  local x = gr * rP
  local q = fdiv(x, L)
  if q * L < x then q = q + 1 end
  return n * qP + gq * rP + q
end

-- got picks from an actual amount the part that a quota counting unit takes.
local function got(unit, req, tin, tout, usd)
  if unit == 1 then return req elseif unit == 2 then return tin elseif unit == 3 then return tout
  elseif unit == 4 then return tin + tout elseif unit == 5 then return usd end
  return 1
end
