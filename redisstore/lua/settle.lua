-- settle: replace a hold's worst case with the actual amount (or nothing, to release).
--
-- KEYS[1]    the group's state hash {g}:s; KEYS[2] its reservation index {g}:z
-- ARGV[1]    the reservation id
-- ARGV[2]    the call's nonce
-- ARGV[3]    's' to settle, 'r' to release, 'c' to charge a reservation that Redis may
--            not know (one made locally while Redis was down): settle it if a rejoin
--            installed it, else add the actual amount to its budgets; 'v' to void a
--            reservation whose reserve got no reply (it may have run, or may still
--            arrive): release it if it ran, else take its id for the marker's life, so
--            that a reserve arriving later finds it taken and changes nothing
-- ARGV[4]    MessagePack array: clock offset (µs), the actual requests, input tokens,
--            output tokens and micro-USD, the epoch the reservation was made in (0:
--            unknown), how long a charge's marker lives (µs), then, when the client knows
--            the reservation, per quota its kind and: a rate the change of its TAT (ns),
--            which the client computes exactly; a budget its amount held, its amount used
--            and its window's end (µs; 0 for a lifetime); a lease quota nothing more
-- ARGV[5..]  when the client knows the reservation: the fields its quotas read, in order
--            (a rate's or a lease quota's; a budget's u and h in the hold's window)
--
-- A client that does not know the reservation (another process's) sends neither: the
-- hold's entries say what to settle, and its rates keep their worst case. So does an
-- installed hold ('R', holds.lua), whatever the client sends.
--
-- A reservation of an earlier epoch that is gone (the state was lost and rebuilt, and the
-- rebuild did not install it: its hold was not in the ledger) is charged its actual amount
-- as a plain charge to its budgets in their windows, and marked settled for the charge
-- marker's life, so that nothing it spent is lost and a replay charges once; a release of
-- one has nothing to return. Mode 'c' does the same for a reservation Redis never knew.
--
-- Returns {1, now (µs), then three numbers per quota as reserve returns them, after the
-- settle} when settled now; {1} when settled by an earlier run with the same nonce (a
-- client retry), or charged as above; {0} when the reservation is unknown, settled by
-- another call, or expired (it is then charged at its worst case). Without the marker, the
-- TGLOST error, and nothing changed.

local S, Z = KEYS[1], KEYS[2]
local id, nonce, mode = ARGV[1], ARGV[2], ARGV[3]
local rid = 'r' .. id
-- f[1] the reservation, f[2] the marker, f[3..] the fields the client names (ARGV[5..]).
local f = redis.call('HMGET', S, rid, '_e', unpack(ARGV, 5))
if not f[2] then return lost() end
local v = f[1]
if v and string.sub(v, 1, 1) == 'd' then
  if v == 'd' .. nonce then return {1} end
  return {0}
end
local a = cmsgpack.unpack(ARGV[4])
local now_us, now_s, now_n = clock(a[1])

local function mark(life)
  redis.call('HSET', S, rid, 'd' .. nonce)
  redis.call('ZADD', Z, now_us + life, rid)
end

if not v then
  local ep = a[6]
  if mode == 'v' then mark(a[7]); return {1} end
  if mode ~= 'c' and (ep == 0 or ep == tonumber(f[2])) then return {0} end
  -- Not known to this state: charge what it spent to its budgets, once.
  if mode == 'r' then mark(a[7]); return {1} end
  if #ARGV < 5 then return {0} end
  local set = {}
  local p, q = 8, 5
  while a[p] do
    local kind = a[p]
    if kind == 1 then
      p, q = p + 2, q + 1
    elseif kind == 5 then
      p, q = p + 1, q + 1
    else
      local g, stop = a[p + 2], a[p + 3]
      if g ~= 0 and (stop == 0 or now_us < stop) then
        set[#set + 1], set[#set + 2] = ARGV[q], (tonumber(f[q - 2]) or 0) + g
      end
      p, q = p + 4, q + 2
    end
  end
  if #set > 0 then redis.call('HSET', S, unpack(set)) end
  mark(a[7])
  return {1}
end
if tonumber(string.sub(v, 1, 16)) <= now_us then
  -- Expired: charge it now, and return its leases unless they lapsed already.
  local due = {rid}
  if redis.call('ZREM', Z, 'L' .. id, rid) == 2 then due[2] = 'L' .. id end
  charge(S, due, now_us)
  return {0}
end

-- The entries as kind, field names and numbers (a rate's change of TAT; a budget's amount
-- held, amount used, window end): the client's, or else the hold's own.
local h, installed = entries(v)
local kinds, f1, f2, x1, x2, x3 = {}, {}, {}, {}, {}, {}
if #ARGV >= 5 and not installed then
  local p, q = 8, 5
  for k = 1, #a do
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
  local release = mode == 'r' or mode == 'v'
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
  f = redis.call('HMGET', S, rid, '_e', unpack(read))
end

-- The leases are returned by whoever takes L<id> out of the index: here, unless they lapsed.
local leases = false
for k = 1, #kinds do
  if kinds[k] == 5 then leases = true end
end
if leases then leases = redis.call('ZREM', Z, 'L' .. id) == 1 end

local out = {1, now_us}
local set = {}
local q = 3
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
