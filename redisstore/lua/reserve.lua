-- reserve: take ARGV's amounts from every quota, or from none.
--
-- KEYS[1]       the reservation (hold) key
-- KEYS[2i]      quota i's state: a string (a rate's TAT), a hash (budgets) or a sorted set
--               of leases
-- KEYS[2i+1]    quota i's open holds by expiry (budgets only; declared for every quota)
-- ARGV[1..6]    id, hold TTL (us), lease time (us), idle TTL of lifetime keys (ms),
--               clock offset (us, tests only), number of quotas
-- ARGV[7+10(i-1) ..] per quota: kind, unit, amount, limit (burst for a rate), warn
--               threshold (-1: none), then five kind-specific numbers:
--               rate: inc, tolerance, qP, rP, limit (see interval)
--               day/month: the boundaries w0 < w1 < w2 < w3 of the previous, current and
--               next calendar window by the client's clock (us); the server's TIME picks.
--
-- Returns {1, expiry_us, warned} or {0, index, code, used_or_dt, wait_ns, reset_us} with
-- code 1 exceeded, 2 budget, 3 too large; for a rate used_or_dt is TAT - now in ns.

local id = ARGV[1]
local ttl_us = tonumber(ARGV[2])
local lease_us = tonumber(ARGV[3])
local idle_ms = tonumber(ARGV[4])
local now_us, now_s, now_n = clock(tonumber(ARGV[5]))
local n = tonumber(ARGV[6])
local hk = KEYS[1]

-- A retry of a reserve that already ran (the client timed out reading the reply) must not
-- reserve twice: the id is the client's, so the hold is already there.
local prev = redis.call('GET', hk)
if prev then
  if string.sub(prev, 1, 1) == 'd' then return {1, 0, 0} end
  local h = cmsgpack.unpack(prev)
  return {1, h[1], h[2]}
end

local expiry = now_us + ttl_us
local lease_exp = math.min(now_us + lease_us, expiry)
local rank = {0, 1, 2}
local wi, wcode, wa, wwait, wreset = 0, 0, 0, 0, 0
local warned = 0
local plan, stops, helds = {}, {}, {}

for i = 1, n do
  local b = 6 + (i - 1) * 10
  local kind, amt, lim, warn = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4]), tonumber(ARGV[b + 5])
  local main, aux = KEYS[2 * i], KEYS[2 * i + 1]
  local code, a, wait, reset = 0, 0, 0, 0
  if kind == 1 then
    local inc, tol = tonumber(ARGV[b + 6]), tonumber(ARGV[b + 7])
    local ts = redis.call('GET', main)
    local dt = 0
    if ts then
      local s, ns = split(ts)
      dt = (s - now_s) * 1000000000 + (ns - now_n)
    end
    if amt > lim then
      code, a = 3, dt
    else
      local rel = math.max(dt, 0) + inc
      local over = rel - tol
      if over > 0 then code, a, wait = 1, dt, over else plan[i] = rel end
    end
  elseif kind == 5 then
    redis.call('ZREMRANGEBYSCORE', main, '-inf', I(now_us))
    local used = redis.call('ZCARD', main)
    if amt > lim then code, a = 3, used
    elseif used + amt > lim then code, a = 1, used
    else plan[i] = 0 end
  else
    local f = redis.call('HMGET', main, 'u', 'h', 's')
    local u, h = tonumber(f[1]) or 0, tonumber(f[2]) or 0
    local start, stop = 0, 0
    if kind ~= 4 then
      local w0, w1, w2, w3 = tonumber(ARGV[b + 6]), tonumber(ARGV[b + 7]), tonumber(ARGV[b + 8]), tonumber(ARGV[b + 9])
      if now_us >= w1 and now_us < w2 then start, stop = w1, w2
      elseif now_us >= w2 and now_us < w3 then start, stop = w2, w3
      elseif now_us >= w0 and now_us < w1 then start, stop = w0, w1
      else
        return redis.error_reply('ERR tollgate: server TIME is outside the calendar windows sent by the client (clocks differ by more than a day)')
      end
      if f[3] and tonumber(f[3]) ~= start then
        -- A new window: the old one's use and holds are dropped with it.
        u, h = 0, 0
        redis.call('HSET', main, 'u', 0, 'h', 0, 's', I(start))
      end
    end
    -- Holds past their expiry are charged at their worst case: the caller that vanished
    -- may have spent it. Bounded per call; the rest stay held (a transient refusal at worst).
    local due = redis.call('ZRANGEBYSCORE', aux, '-inf', I(now_us), 'LIMIT', 0, 256)
    if #due > 0 then
      local d = 0
      for _, m in ipairs(due) do
        local amt_s, st_s = string.match(m, '|(%d+)|(%d+)$')
        if kind == 4 or tonumber(st_s) == start then d = d + tonumber(amt_s) end
      end
      redis.call('ZREM', aux, unpack(due))
      if d > 0 then
        u, h = u + d, h - d
        redis.call('HSET', main, 'u', I(u), 'h', I(h))
      end
    end
    local used = u + h
    if amt > lim then code, a = 3, used
    elseif used + amt <= lim then
      plan[i], helds[i] = start, h
      if warn >= 0 and i <= 52 and used < warn and used + amt >= warn then warned = warned + 2 ^ (i - 1) end
    elseif u + amt <= lim then code, a = 1, used
    else
      code, a = 2, used
      if stop > 0 then wait = (stop - now_us) * 1000 end
    end
    reset, stops[i] = stop, stop
  end
  if code ~= 0 then
    if wi == 0 or rank[code] > rank[wcode] or (rank[code] == rank[wcode] and wait > wwait) then
      wi, wcode, wa, wwait, wreset = i, code, a, wait, reset
    end
  end
end

if wi ~= 0 then return {0, wi, wcode, wa, wwait, wreset} end

local entries = {}
for i = 1, n do
  local b = 6 + (i - 1) * 10
  local kind, unit, amt = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
  local main, aux = KEYS[2 * i], KEYS[2 * i + 1]
  if kind == 1 then
    local rel = plan[i]
    -- Kept for a hold's lifetime past the TAT so that a settle finds the TAT to refund.
    redis.call('SET', main, join(now_s, now_n + rel), 'PX', I(math.ceil(rel / 1000000) + math.ceil(ttl_us / 1000)))
    entries[i] = {kind, unit, amt, main, aux, 0, '', tonumber(ARGV[b + 6]), tonumber(ARGV[b + 8]), tonumber(ARGV[b + 9]), tonumber(ARGV[b + 10])}
  elseif kind == 5 then
    redis.call('ZADD', main, I(lease_exp), id)
    redis.call('PEXPIRE', main, I(math.ceil(lease_us / 1000) + 1000))
    entries[i] = {kind, unit, amt, main, aux, 0, id}
  else
    local start = plan[i]
    local member = id .. '|' .. I(amt) .. '|' .. I(start)
    redis.call('ZADD', aux, I(expiry), member)
    if kind == 4 then
      redis.call('HSET', main, 'h', I(helds[i] + amt))
      redis.call('PEXPIRE', main, I(idle_ms))
      redis.call('PEXPIRE', aux, I(idle_ms))
    else
      redis.call('HSET', main, 'h', I(helds[i] + amt), 's', I(start))
      local at = I(math.ceil(stops[i] / 1000) + 1000)
      redis.call('PEXPIREAT', main, at)
      redis.call('PEXPIREAT', aux, at)
    end
    entries[i] = {kind, unit, amt, main, aux, start, member}
  end
end
redis.call('SET', hk, cmsgpack.pack({expiry, warned, entries}), 'PX', I(math.ceil(ttl_us / 1000)))
return {1, expiry, warned}
