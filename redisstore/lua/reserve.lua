-- reserve: take the amounts from every quota of a request, or from none.
--
-- KEYS[1]       the group's state hash {g}:s; KEYS[2] its reservation index {g}:z (see
--               holds.lua)
-- ARGV[1]       the reservation id
-- ARGV[2]       MessagePack array: clock offset (µs, tests only), hold TTL (µs), lease
--               time (µs), number of quotas, then per quota its kind and:
--                 rate (1):        amount, burst, interval(amount) ns, interval(burst) ns,
--                                  floor (ns after now: the TAT is at least now + floor;
--                                  0 for none, see quota.Live)
--                 day/month (2/3): amount, limit, start and end of the window the client
--                                  takes to be current (µs)
--                 lifetime (4):    amount, limit, idle TTL (ms; -1: none)
--                 lease (5):       limit
-- ARGV[3]       the hold's entries, MessagePack (see holds.lua), which the client packs
-- ARGV[4..]     the fields the quotas read, in order: a rate's or a lease quota's one; a
--               lifetime budget's u, h and x; a day's or month's u and h in that window
--
-- Returns {code, now (µs), then three numbers per quota, then the epoch}: code 1 reserved,
-- 0 refused (nothing changed), 2 already reserved by an earlier run of this call (a client
-- retry), 3 the server's clock is in another calendar window than the client's (nothing
-- changed; the client sends again with the server's time; the reply is {3, now}). The
-- numbers are each quota's state, after the reservation or as refused: a rate's TAT (''
-- when none), 0, 0; a lease quota's leases held, 0, 0; a budget's settled use, held amount
-- and window start (unix s; 0 for a lifetime). The client decides from them which quota
-- refused and why, as the memory store does. The epoch is the marker's (holds.lua): the
-- reservation belongs to it. Without the marker, the reply is the TGLOST error and nothing
-- changed.

local S, Z = KEYS[1], KEYS[2]
local id = ARGV[1]
local rid = 'r' .. id
local a = cmsgpack.unpack(ARGV[2])
local now_us, now_s, now_n = clock(a[1])
local ttl_us, lease_us, n = a[2], a[3], a[4]

local out, rel, xs, f
-- decide reads the quotas and reports whether the request fits them all.
local function decide()
  f = redis.call('HMGET', S, rid, '_c', '_e', unpack(ARGV, 4))
  out, rel, xs = {0, now_us}, {}, {}
  local fits, p, q = true, 5, 4
  for i = 1, n do
    local kind = a[p]
    local o = 3 * i
    if kind == 1 then
      local ts = f[q]
      local dt = 0
      if ts then
        local s, ns = split(ts)
        dt = (s - now_s) * 1000000000 + (ns - now_n)
      end
      out[o], out[o + 1], out[o + 2] = ts or '', 0, 0
      rel[i] = math.max(dt, a[p + 5]) + a[p + 3]
      if a[p + 1] > a[p + 2] or rel[i] > a[p + 4] then fits = false end
      p, q = p + 6, q + 1
    elseif kind == 5 then
      local c = tonumber(f[q]) or 0
      out[o], out[o + 1], out[o + 2] = c, 0, 0
      if c + 1 > a[p + 1] then fits = false end
      p, q = p + 2, q + 1
    else
      local amt, lim = a[p + 1], a[p + 2]
      local u, h = tonumber(f[q]) or 0, tonumber(f[q + 1]) or 0
      local start = 0
      if kind == 4 then
        xs[i] = tonumber(f[q + 2])
        p, q = p + 4, q + 3
      else
        if now_us < a[p + 3] or now_us >= a[p + 4] then return nil end
        start = a[p + 3] / 1000000
        p, q = p + 5, q + 2
      end
      out[o], out[o + 1], out[o + 2] = u, h, start
      if amt > lim or u + h + amt > lim then fits = false end
    end
  end
  return fits
end

-- Expired holds and leases are charged and returned a few calls at a time every sixteenth
-- call, and at once when they may be what refuses this one.
local swept = now_us % 16 == 0 and expire_due(S, Z, now_us, 64) >= 0
local fits = decide()
if fits == nil then return {3, now_us} end
if not f[3] then return lost() end
if not fits and not f[1] and not swept and expire_due(S, Z, now_us, 64) > 0 then fits = decide() end
local epoch = tonumber(f[3])
if f[1] or not fits then
  if f[1] then out[1] = 2 end
  out[#out + 1] = epoch
  return out
end

-- Commit: one HSET for every field and the reservation.
local expiry = now_us + ttl_us
local set = {}
local leases, fresh = false, 0
local p, q = 5, 4
for i = 1, n do
  local kind = a[p]
  local o = 3 * i
  if kind == 1 then
    local tat = join(now_s, now_n + rel[i])
    if out[o] == '' then fresh = fresh + 1 end
    set[#set + 1], set[#set + 2] = ARGV[q], tat
    out[o] = tat
    p, q = p + 6, q + 1
  elseif kind == 5 then
    leases = true
    out[o] = out[o] + 1
    set[#set + 1], set[#set + 2] = ARGV[q], out[o]
    p, q = p + 2, q + 1
  else
    local h = out[o + 1] + a[p + 1]
    if out[o + 1] == 0 and out[o] == 0 then fresh = fresh + 1 end
    set[#set + 1], set[#set + 2] = ARGV[q + 1], h
    out[o + 1] = h
    if kind == 4 then
      -- The idle TTL runs from the end of the reservation; it is pushed back only when
      -- half of it has passed, to spare the write on most reserves.
      local idle, x = a[p + 3], xs[i]
      if idle < 0 then
        if x ~= -1 then set[#set + 1], set[#set + 2] = ARGV[q + 2], -1 end
      else
        local want = math.ceil((now_us + ttl_us) / 1000) + idle
        if not x or x < 0 or want - x > idle / 2 then set[#set + 1], set[#set + 2] = ARGV[q + 2], want end
      end
      p, q = p + 4, q + 3
    else
      p, q = p + 5, q + 2
    end
  end
end
-- Forget idle quotas at least as fast as new ones come: each new one buys a few fields'
-- look, and every sixty-fourth call looks anyway.
if fresh > 0 or now_us % 64 == 0 then
  set[#set + 1], set[#set + 2] = '_c', sweep(S, f[2] or '0', 4 * fresh + 8, now_us, ttl_us)
end
set[#set + 1], set[#set + 2] = rid, string.format('%016d', expiry) .. ARGV[3]
redis.call('HSET', S, unpack(set))
if leases then
  redis.call('ZADD', Z, expiry, rid, math.min(now_us + lease_us, expiry), 'L' .. id)
else
  redis.call('ZADD', Z, expiry, rid)
end
out[1] = 1
out[#out + 1] = epoch
return out
