-- settle: replace a hold's worst case with the actual amount (or nothing, to release).
--
-- KEYS[1]    the hold key. The quota keys it names share its hash slot (one slot group),
--            which is why they need not be declared.
-- KEYS[2]    the group's expiry index
-- ARGV[1]    the call's nonce
-- ARGV[3]    's' to settle, 'r' to release (charge nothing)
-- ARGV[2]    MessagePack array: clock offset (µs), then the actual requests, input tokens,
--            output tokens and micro-USD, then, when the client knows the reservation, one
--            number per quota: for a rate the change of its TAT (ns), which the client
--            computes exactly; nothing else is read from it. A client that does not know
--            the reservation sends no such numbers, and its rates keep their worst case.
--
-- Returns {1, now (µs), then three numbers per quota as reserve returns them, after the
-- settle} when settled now; {1} when settled by an earlier run with the same nonce (a
-- client retry); {0} when the hold is unknown, settled by another call, or expired (it
-- is then charged at its worst case).

local hk, idx = KEYS[1], KEYS[2]
local v = redis.call('GET', hk)
if not v then return {0} end
if string.sub(v, 1, 1) == 'd' then
  if v == 'd' .. ARGV[1] then return {1} end
  return {0}
end
local a = cmsgpack.unpack(ARGV[2])
local now_us = clock(a[1])
local h = cmsgpack.unpack(v)
local id = string.sub(hk, #idx + 1)
if h[1] <= now_us then
  expire(idx, hk, id, h, now_us)
  return {0}
end
if h[2] == 1 then redis.call('ZREM', idx, id) end
local req, tin, tout, usd = a[2], a[3], a[4], a[5]
local out = {1, now_us}
local q = 0
for i = 3, #h, E do
  q = q + 1
  local kind, key, amt, unit, start, stop = h[i], h[i + 1], h[i + 2], h[i + 3], h[i + 4], h[i + 5]
  local o = 3 * q
  if kind == 1 then
    local d = a[5 + q] or 0
    local tat = redis.call('GET', key)
    if d ~= 0 then
      if tat then
        local s, ns = split(tat)
        tat = join(s, ns + d)
        redis.call('SET', key, tat, 'KEEPTTL')
      elseif d > 0 then
        -- The key lapsed, so its TAT was in the past: charge the extra from now.
        local _, s, ns = clock(a[1])
        tat = join(s, ns + d)
        redis.call('SET', key, tat, 'PX', I(math.ceil(d / 1000000) + 1000))
      end
    end
    tat = tat or ''
    out[o], out[o + 1], out[o + 2] = tat, 0, 0
  elseif kind == 5 then
    redis.call('ZREM', key, id)
    out[o], out[o + 1], out[o + 2] = redis.call('ZCOUNT', key, '(' .. I(now_us), '+inf'), 0, 0
  else
    local g = 0
    if ARGV[3] ~= 'r' then
      if unit == 1 then g = req elseif unit == 2 then g = tin elseif unit == 3 then g = tout
      elseif unit == 4 then g = tin + tout elseif unit == 5 then g = usd end
    end
    if stop == 0 or now_us < stop then
      local k = window_key(key, start)
      local held = redis.call('HINCRBY', k, 'h', I(-amt))
      out[o], out[o + 1], out[o + 2] = redis.call('HINCRBY', k, 'u', I(g)), held, start
    else
      -- The window this was charged to has ended: report the next one.
      local f = redis.call('HMGET', window_key(key, stop / 1000000), 'u', 'h')
      out[o], out[o + 1], out[o + 2] = tonumber(f[1]) or 0, tonumber(f[2]) or 0, stop / 1000000
    end
  end
end
-- A short-lived marker instead of a delete: a retry of this very call (same nonce) reports
-- success without charging again; any other call sees an unknown reservation.
redis.call('SET', hk, 'd' .. ARGV[1], 'PX', 60000)
return out
