-- The group's state. Every quota is fields of one hash, {g}:s, so that a script reads all of
-- a request's quotas with one HMGET and writes them with one HSET: a call from Lua costs
-- Redis several times the work of a small command, and a request used to make one or two
-- per quota. Field names start with a letter for their kind and a hash of the quota key
-- (<h>):
--
--   t<h>                  a rate's TAT, unix ns (decimal)
--   b<h>u, b<h>h, b<h>x   a lifetime budget's settled use, held amount and the end of its
--                         idle TTL (unix ms; -1: kept forever)
--   d<h>:<s>u, d<h>:<s>h  a day's budget in the window that starts at <s> (unix s);
--                         m<h>:<s>u, m<h>:<s>h a month's
--   l<h>                  a concurrency quota's leases held
--   r<id>                 a reservation (hold): its expiry (16 digits, unix µs), 'R' if a
--                         rebuild or a rejoin installed it, and its entries in
--                         MessagePack, six per quota: kind, field base name, amount, unit,
--                         window start (s), window end (µs); once settled, a short-lived
--                         marker 'd' .. the settle's nonce
--   _c                    the cursor of the sweep that forgets idle quotas
--   _e                    the marker: the epoch of the state (see lost below)
--
-- {g}:z orders reservations by when to look at them again: r<id> at the hold's expiry (then
-- charged at its worst case if unsettled) or, once settled, when its marker ends; L<id> at
-- its leases' expiry (Config.LeaseTTL, pushed back by Renew), when a replica that crashed
-- gets its slots back. Whoever takes a member out of {g}:z, the expiry or the settle, is the
-- only one to apply it: that is what makes a settle, a charge and a lease's return happen
-- once.

local E = 6 -- numbers per entry of a hold

-- A reservation installed by a rebuild or a rejoin (rather than made by reserve) has 'R'
-- after its expiry: its settle applies its own entries, whatever the client sends.
--
-- entries returns a hold's entries and whether it was installed.
local function entries(v)
  if string.sub(v, 17, 17) == 'R' then return cmsgpack.unpack(string.sub(v, 18)), true end
  return cmsgpack.unpack(string.sub(v, 17)), false
end

-- The field _e is the fleet's marker: the epoch (a random number) of the state in the hash,
-- written by the rebuild that initialised it. A script that finds it gone knows the hash was
-- lost (a restart without persistence, a failover to a replica without it, FLUSHALL, an
-- eviction) and changes nothing: the client rebuilds the state from the ledger first.
local function lost()
  return redis.error_reply('TGLOST the quota state in Redis is gone; it must be rebuilt from the ledger')
end

local function bname(name, start)
  if start == 0 then return name end
  return name .. ':' .. start -- unix seconds: exact in Lua's %.14g
end

-- charge applies members due out of {g}:z (already taken out of it): an r<id> whose hold
-- expired unsettled is charged at its worst case (a budget's held amount becomes used,
-- unless its window has ended or the budget was forgotten) and deleted, with its marker
-- if it was settled; an L<id> returns its hold's leases. It makes a handful of calls
-- whatever the number of members.
local function charge(S, due, now_us)
  local rids = {}
  for i, m in ipairs(due) do rids[i] = 'r' .. string.sub(m, 2) end
  local vals = redis.call('HMGET', S, unpack(rids))
  -- Sum what to move per field first: several holds may name the same quota.
  local add, names, gone = {}, {}, {}
  local function bump(f, d)
    if not add[f] then add[f] = 0; names[#names + 1] = f end
    add[f] = add[f] + d
  end
  for i, m in ipairs(due) do
    local v = vals[i]
    local lease = string.sub(m, 1, 1) == 'L'
    if v and string.sub(v, 1, 1) ~= 'd' then
      local h = entries(v)
      for j = 1, #h, E do
        local kind, name, amt, start, stop = h[j], h[j + 1], h[j + 2], h[j + 4], h[j + 5]
        if lease then
          if kind == 5 then bump(name, -1) end
        elseif kind ~= 1 and kind ~= 5 and (stop == 0 or now_us < stop) then
          local b = bname(name, start)
          bump(b .. 'h', -amt)
          bump(b .. 'u', amt)
        end
      end
    end
    if not lease then gone[#gone + 1] = rids[i] end
  end
  if #names > 0 then
    local cur = redis.call('HMGET', S, unpack(names))
    local held = {}
    for i, f in ipairs(names) do held[f] = cur[i] end
    local set = {}
    for i, f in ipairs(names) do
      -- A quota forgotten meanwhile stays forgotten: a budget is there when its held
      -- amount is (its settled use may not be yet).
      local c = cur[i]
      if not c and string.sub(f, -1) == 'u' and held[string.sub(f, 1, -2) .. 'h'] then c = 0 end
      if c then set[#set + 1], set[#set + 2] = f, math.max(tonumber(c) + add[f], 0) end
    end
    if #set > 0 then redis.call('HSET', S, unpack(set)) end
  end
  if #gone > 0 then redis.call('HDEL', S, unpack(gone)) end
end

-- expire_due takes at most limit members whose time has passed out of {g}:z and charges
-- them; it reports how many there were.
local function expire_due(S, Z, now_us, limit)
  local due = redis.call('ZRANGEBYSCORE', Z, '-inf', now_us, 'LIMIT', 0, limit)
  if #due == 0 then return 0 end
  redis.call('ZREM', Z, unpack(due))
  charge(S, due, now_us)
  return #due
end

-- sweep looks at about count fields of S from cursor on, forgets the quotas whose state
-- equals a fresh one's (a rate refilled past any hold's life, a day or month long over, a
-- lifetime budget idle past its TTL, a concurrency quota with no lease), and returns the
-- next cursor.
local function sweep(S, cursor, count, now_us, ttl_us)
  local r = redis.call('HSCAN', S, cursor, 'COUNT', count)
  local kv, gone = r[2], {}
  local now_s = now_us / 1000000
  for i = 1, #kv, 2 do
    local f, v = kv[i], kv[i + 1]
    local c, last = string.sub(f, 1, 1), string.sub(f, -1)
    if c == 't' then
      if split(v) + (ttl_us / 1000000) + 60 < now_s then gone[#gone + 1] = f end
    elseif c == 'l' then
      if v == '0' then gone[#gone + 1] = f end
    elseif c == 'b' and last == 'x' then
      local x = tonumber(v)
      if x >= 0 and x < now_us / 1000 then
        local base = string.sub(f, 1, -2)
        gone[#gone + 1], gone[#gone + 2], gone[#gone + 3] = base .. 'u', base .. 'h', f
      end
    elseif (c == 'd' or c == 'm') and last == 'u' then
      local start = tonumber(string.match(f, ':(%d+)u$'))
      -- A day lasts at most 25 hours, a month 31 days: forget well after either ends.
      if start and start + (c == 'd' and 93600 or 2764800) < now_s then
        gone[#gone + 1], gone[#gone + 2] = f, string.sub(f, 1, -2) .. 'h'
      end
    end
  end
  if #gone > 0 then redis.call('HDEL', S, unpack(gone)) end
  return r[1]
end

-- pick returns the calendar window among the client's boundaries w0 < w1 < w2 < w3 that
-- contains now, as (start in unix s, end in unix µs). The client computes them because Lua
-- knows no time zones; the server's TIME chooses.
local function pick(w0, w1, w2, w3, now_us)
  if now_us >= w1 and now_us < w2 then return w1 / 1000000, w2
  elseif now_us >= w2 and now_us < w3 then return w2 / 1000000, w3
  elseif now_us >= w0 and now_us < w1 then return w0 / 1000000, w1 end
  return nil
end

local function clock_error()
  return redis.error_reply('ERR tollgate: server TIME is outside the calendar windows sent by the client (clocks differ by more than a day)')
end
