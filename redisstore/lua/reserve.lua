-- reserve: take the amounts from every quota of a request, or from none.
--
-- KEYS[1]       the hold key, {g}:r<id>
-- KEYS[2]       the group's expiry index, {g}:e
-- KEYS[2+i]     quota i's state: {g}:t<h> a rate's TAT (string, unix ns); {g}:l<h> a sorted
--               set of leases by lease expiry (µs); {g}:b<h> a budget's hash of u (settled),
--               h (held) and, for a lifetime, x (when its TTL ends, unix ms); a day's or
--               month's hash is {g}:b<h>:<window start, unix s>
-- ARGV[1]       the hold id
-- ARGV[2]       MessagePack array: clock offset (µs, tests only), hold TTL (µs), lease
--               time (µs), number of quotas, then per quota its kind and:
--                 rate (1):        amount, burst, interval(amount) ns, interval(burst) ns
--                 day/month (2/3): amount, unit, limit, w0, w1, w2, w3 (µs; see pick)
--                 lifetime (4):    amount, unit, limit, idle TTL (ms; -1: none)
--                 lease (5):       limit
--
-- Returns {code, now (µs), then three numbers per quota}: code 1 reserved, 0 refused
-- (nothing changed), 2 already reserved by an earlier run of this call (a client retry).
-- The numbers are each quota's state, after the reservation or as refused: a rate's TAT
-- ('' when none), 0, 0; a lease's count of leases, 0, 0; a budget's settled use, held
-- amount and window start (unix s; 0 for a lifetime). The client decides from them which
-- quota refused and why, as the memory store does.

local id = ARGV[1]
local a = cmsgpack.unpack(ARGV[2])
local now_us, now_s, now_n = clock(a[1])
local ttl_us, lease_us, n = a[2], a[3], a[4]
local hk, idx = KEYS[1], KEYS[2]

-- A retry of a reserve that already ran (the client timed out reading the reply) must not
-- reserve twice: the id is the client's, so the hold is already there.
local code = 1
if redis.call('GET', hk) then code = 2 else expire_due(idx, now_us, 8) end

local out = {0, now_us}
local fits = true
local plan, args, keys = {}, {}, {}
local p = 5
for i = 1, n do
  local kind = a[p]
  local key = KEYS[2 + i]
  local o = 3 * i
  if kind == 1 then
    local amt, burst, inc, tol = a[p + 1], a[p + 2], a[p + 3], a[p + 4]
    p = p + 5
    local ts = redis.call('GET', key)
    local dt = 0
    if ts then
      local s, ns = split(ts)
      dt = (s - now_s) * 1000000000 + (ns - now_n)
    end
    out[o], out[o + 1], out[o + 2] = ts or '', 0, 0
    local rel = math.max(dt, 0) + inc
    if amt > burst or rel > tol then fits = false else plan[i] = rel end
  elseif kind == 5 then
    local lim = a[p + 1]
    p = p + 2
    redis.call('ZREMRANGEBYSCORE', key, '-inf', I(now_us))
    local c = redis.call('ZCARD', key)
    out[o], out[o + 1], out[o + 2] = c, 0, 0
    if c + 1 > lim then fits = false end
  else
    local amt, lim, start, stop = a[p + 1], a[p + 3], 0, 0
    if kind == 4 then
      args[i] = a[p + 4]
      p = p + 5
    else
      start, stop = pick(a[p + 4], a[p + 5], a[p + 6], a[p + 7], now_us)
      if not start then return clock_error() end
      p = p + 8
      key = window_key(key, start)
    end
    keys[i] = key
    local f = redis.call('HMGET', key, 'u', 'h', 'x')
    local u, h = tonumber(f[1]) or 0, tonumber(f[2]) or 0
    out[o], out[o + 1], out[o + 2] = u, h, start
    if amt > lim or u + h + amt > lim then fits = false end
    plan[i] = {u, h, start, stop, f[1] == false and f[2] == false, tonumber(f[3])}
  end
end

if code == 2 or not fits then
  if fits then out[1] = 2 end
  return out
end

local expiry = now_us + ttl_us
local lease_exp = math.min(now_us + lease_us, expiry)
local hold = {expiry, 0}
p = 5
for i = 1, n do
  local kind = a[p]
  local key = KEYS[2 + i]
  local o = 3 * i
  local e = #hold
  if kind == 1 then
    local amt, rel = a[p + 1], plan[i]
    p = p + 5
    local tat = join(now_s, now_n + rel)
    -- Kept for a hold's lifetime past the TAT so that a settle finds the TAT to refund.
    redis.call('SET', key, tat, 'PX', I(math.ceil(rel / 1000000) + math.ceil(ttl_us / 1000)))
    out[o] = tat
    hold[e + 1], hold[e + 2], hold[e + 3], hold[e + 4], hold[e + 5], hold[e + 6] = 1, key, amt, 0, 0, 0
  elseif kind == 5 then
    p = p + 2
    redis.call('ZADD', key, I(lease_exp), id)
    redis.call('PEXPIRE', key, I(math.ceil(lease_us / 1000) + 1000))
    out[o] = out[o] + 1
    hold[e + 1], hold[e + 2], hold[e + 3], hold[e + 4], hold[e + 5], hold[e + 6] = 5, key, 1, 0, 0, 0
  else
    local amt, unit = a[p + 1], a[p + 2]
    local u, h, start, stop, fresh, x = plan[i][1], plan[i][2], plan[i][3], plan[i][4], plan[i][5], plan[i][6]
    local k = keys[i]
    if kind == 4 then
      p = p + 5
      local idle = args[i]
      if idle < 0 then
        if x ~= -1 then
          redis.call('HSET', k, 'h', I(h + amt), 'x', -1)
          redis.call('PERSIST', k)
        else
          redis.call('HSET', k, 'h', I(h + amt))
        end
      else
        -- The TTL covers the idle time after this hold ends; it is pushed back only when
        -- half of it has passed, to spare a call on most reserves.
        local want = math.ceil((now_us + ttl_us) / 1000) + idle
        if not x or x < 0 or want - x > idle / 2 then
          redis.call('HSET', k, 'h', I(h + amt), 'x', I(want))
          redis.call('PEXPIREAT', k, I(want))
        else
          redis.call('HSET', k, 'h', I(h + amt))
        end
      end
    else
      p = p + 8
      redis.call('HSET', k, 'h', I(h + amt))
      if fresh then redis.call('PEXPIREAT', k, I(math.ceil(stop / 1000) + 1000)) end
    end
    out[o + 1] = h + amt
    hold[2] = 1
    hold[e + 1], hold[e + 2], hold[e + 3], hold[e + 4], hold[e + 5], hold[e + 6] = kind, key, amt, unit, start, stop
  end
end
-- A hold in the index lives until it is charged or settled (plus a day in case the index
-- entry is lost); one without budgets only needs to outlive its TTL.
local life = math.ceil(ttl_us / 1000)
if hold[2] == 1 then
  redis.call('ZADD', idx, I(expiry), id)
  life = life + 86400000
end
redis.call('SET', hk, cmsgpack.pack(hold), 'PX', I(life))
out[1] = 1
return out
