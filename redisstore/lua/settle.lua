-- settle: replace a hold's worst case with the actual amount (or nothing, to release).
--
-- KEYS[1]    the group's state hash {g}:s; KEYS[2] its reservation index {g}:z
-- ARGV[1]    the reservation id
-- ARGV[2]    the call's nonce
-- ARGV[3]    's' to settle, 'r' to release
-- ARGV[4]    MessagePack array: clock offset (µs), the actual requests, input tokens,
--            output tokens and micro-USD, then, when the client knows the reservation, per
--            quota its kind and: a rate the change of its TAT (ns), which the client
--            computes exactly; a budget its amount held, its amount used and its window's
--            end (µs; 0 for a lifetime); a lease quota nothing more
-- ARGV[5..]  when the client knows the reservation: the fields its quotas read, in order
--            (a rate's or a lease quota's; a budget's u and h in the hold's window)
--
-- A client that does not know the reservation (another process's) sends neither: the
-- hold's entries say what to settle, and its rates keep their worst case.
--
-- Returns {1, now (µs), then three numbers per quota as reserve returns them, after the
-- settle} when settled now; {1} when settled by an earlier run with the same nonce (a
-- client retry); {0} when the reservation is unknown, settled by another call, or expired
-- (it is then charged at its worst case).

local S, Z = KEYS[1], KEYS[2]
local id, nonce = ARGV[1], ARGV[2]
local rid = 'r' .. id
local f = redis.call('HMGET', S, rid, unpack(ARGV, 5))
local v = f[1]
if not v then return {0} end
if string.sub(v, 1, 1) == 'd' then
  if v == 'd' .. nonce then return {1} end
  return {0}
end
local a = cmsgpack.unpack(ARGV[4])
local now_us, now_s, now_n = clock(a[1])
if tonumber(string.sub(v, 1, 16)) <= now_us then
  -- Expired: charge it now, and return its leases unless they lapsed already.
  local due = {rid}
  if redis.call('ZREM', Z, 'L' .. id, rid) == 2 then due[2] = 'L' .. id end
  charge(S, due, now_us)
  return {0}
end

-- The entries as kind, field names and numbers (a rate's change of TAT; a budget's amount
-- held, amount used, window end): the client's, or else the hold's own.
local kinds, f1, f2, x1, x2, x3 = {}, {}, {}, {}, {}, {}
if #ARGV >= 5 then
  local p, q = 6, 5
  for k = 1, (#a - 5) do
    local kind = a[p]
    if not kind then break end
    kinds[k] = kind
    if kind == 1 then
      f1[k], x1[k] = ARGV[q], a[p + 1]
      p, q = p + 2, q + 1
    elseif kind == 5 then
      f1[k] = ARGV[q]
      p, q = p + 1, q + 1
    else
      f1[k], f2[k], x1[k], x2[k], x3[k] = ARGV[q], ARGV[q + 1], a[p + 1], a[p + 2], a[p + 3]
      p, q = p + 4, q + 2
    end
  end
else
  local h = cmsgpack.unpack(string.sub(v, 17))
  local release = ARGV[3] == 'r'
  local req, tin, tout, usd = a[2], a[3], a[4], a[5]
  local read = {}
  for i = 1, #h, E do
    local k = #kinds + 1
    local kind, name, amt, unit, start, stop = h[i], h[i + 1], h[i + 2], h[i + 3], h[i + 4], h[i + 5]
    kinds[k] = kind
    if kind == 1 or kind == 5 then
      f1[k], x1[k] = name, 0
      read[#read + 1] = name
    else
      local g = 0
      if not release then
        if unit == 1 then g = req elseif unit == 2 then g = tin elseif unit == 3 then g = tout
        elseif unit == 4 then g = tin + tout elseif unit == 5 then g = usd end
      end
      local b = bname(name, start)
      f1[k], f2[k], x1[k], x2[k], x3[k] = b .. 'u', b .. 'h', amt, g, stop
      read[#read + 1], read[#read + 2] = f1[k], f2[k]
    end
  end
  f = redis.call('HMGET', S, rid, unpack(read))
end

-- The leases are returned by whoever takes L<id> out of the index: here, unless they lapsed.
local leases = false
for k = 1, #kinds do
  if kinds[k] == 5 then leases = true end
end
if leases then leases = redis.call('ZREM', Z, 'L' .. id) == 1 end

local out = {1, now_us}
local set = {}
local q = 2
for k = 1, #kinds do
  local kind = kinds[k]
  local o = 3 * k
  if kind == 1 then
    local d, tat = x1[k], f[q]
    q = q + 1
    if d ~= 0 then
      if tat then
        local s, ns = split(tat)
        tat = join(s, ns + d)
      elseif d > 0 then
        -- Forgotten, so its TAT was in the past: charge the extra from now.
        tat = join(now_s, now_n + d)
      end
      if tat then set[#set + 1], set[#set + 2] = f1[k], tat end
    end
    out[o], out[o + 1], out[o + 2] = tat or '', 0, 0
  elseif kind == 5 then
    local c = tonumber(f[q]) or 0
    q = q + 1
    if leases and c > 0 then
      c = c - 1
      set[#set + 1], set[#set + 2] = f1[k], c
    end
    out[o], out[o + 1], out[o + 2] = c, 0, 0
  else
    local amt, g, stop = x1[k], x2[k], x3[k]
    local u, held = tonumber(f[q]), tonumber(f[q + 1])
    q = q + 2
    if (stop == 0 or now_us < stop) and held then
      u, held = (u or 0) + g, held - amt
      set[#set + 1], set[#set + 2], set[#set + 3], set[#set + 4] = f1[k], u, f2[k], held
      out[o], out[o + 1], out[o + 2] = u, held, 0
    else
      -- The window this was charged to has ended (or the budget was forgotten): the
      -- client reports the window that follows as unused.
      out[o], out[o + 1], out[o + 2] = 0, 0, -1
    end
  end
end
-- A short-lived marker instead of a delete: a retry of this very call (same nonce) reports
-- success without charging again; any other call sees an unknown reservation.
set[#set + 1], set[#set + 2] = rid, 'd' .. nonce
redis.call('HSET', S, unpack(set))
redis.call('ZADD', Z, 'XX', now_us + 10000000, rid)
return out
