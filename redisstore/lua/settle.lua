-- settle: replace a hold's worst case with the actual amount (or nothing, to release).
--
-- KEYS[1]    the hold key. The quota keys it names share its hash slot (one slot group),
--            which is why they need not be declared.
-- ARGV       nonce, clock offset (us), mode ('s' settle, 'r' release), then the actual
--            requests, input tokens, output tokens and micro-USD.
--
-- Returns 1 when settled (now, or by an earlier run with the same nonce: a client retry),
-- 0 when the hold is unknown, already settled by another call, or expired.

local hk = KEYS[1]
local v = redis.call('GET', hk)
if not v then return 0 end
if string.sub(v, 1, 1) == 'd' then
  if v == 'd' .. ARGV[1] then return 1 end
  return 0
end
local now_us, now_s, now_n = clock(tonumber(ARGV[2]))
local h = cmsgpack.unpack(v)
-- Expired: the next reserve on each budget charges its worst case; leases lapse on their own.
if h[1] <= now_us then return 0 end
local release = ARGV[3] == 'r'
local req, tin, tout, usd = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
for _, e in ipairs(h[3]) do
  local kind, unit, amt, main, aux = e[1], e[2], e[3], e[4], e[5]
  local g = 0
  if not release then g = got(unit, req, tin, tout, usd) end
  if kind == 1 then
    local d = interval(g, e[9], e[10], e[11]) - e[8]
    if d ~= 0 then
      local ts = redis.call('GET', main)
      if ts then
        local s, ns = split(ts)
        redis.call('SET', main, join(s, ns + d), 'KEEPTTL')
      elseif d > 0 then
        -- The key lapsed, so its TAT was in the past: charge from now, erring safe.
        redis.call('SET', main, join(now_s, now_n + d), 'PX', I(math.ceil(d / 1000000) + 1000))
      end
    end
  elseif kind == 5 then
    redis.call('ZREM', main, e[7])
  else
    if redis.call('ZREM', aux, e[7]) == 1 then
      if kind == 4 or tonumber(redis.call('HGET', main, 's')) == e[6] then
        redis.call('HINCRBY', main, 'h', I(-amt))
        if g ~= 0 then redis.call('HINCRBY', main, 'u', I(g)) end
      end
    end
  end
end
-- A short-lived marker instead of a delete: a retry of this very call (same nonce) reports
-- success without charging again; any other call sees an unknown reservation.
redis.call('SET', hk, 'd' .. ARGV[1], 'PX', 60000)
return 1
