-- Reservations (holds). A hold is one key, {g}:r<id>, holding a MessagePack array: its
-- expiry (unix µs), whether it is in the group's expiry index, then six numbers per quota
-- in the order of the request: kind, key, amount, unit, window start (unix s; days and
-- months, whose state key is key:start) and window end (unix µs). Budgets' holds are
-- charged at their worst case when the hold expires unsettled; the expiry index {g}:e
-- (a sorted set of hold ids by expiry) lets any script find the ones due without looking
-- at every budget. Whoever removes a hold's id from the index charges or settles it:
-- that is what makes each happen once.

local E = 6 -- numbers per entry

local function window_key(key, start)
  if start == 0 then return key end
  return key .. ':' .. I(start)
end

-- expire charges hold h (unpacked) at its worst case: a budget's held amount becomes
-- used, unless its window has ended; leases are returned. The hold is deleted.
local function expire(idx, hk, id, h, now_us)
  if h[2] == 1 then redis.call('ZREM', idx, id) end
  for i = 3, #h, E do
    local kind, key, amt, start, stop = h[i], h[i + 1], h[i + 2], h[i + 4], h[i + 5]
    if kind == 5 then
      redis.call('ZREM', key, id)
    elseif kind ~= 1 and (stop == 0 or now_us < stop) then
      local k = window_key(key, start)
      redis.call('HINCRBY', k, 'h', I(-amt))
      redis.call('HINCRBY', k, 'u', I(amt))
    end
  end
  redis.call('DEL', hk)
end

-- expire_due charges at most limit holds whose expiry has passed.
local function expire_due(idx, now_us, limit)
  local due = redis.call('ZRANGEBYSCORE', idx, '-inf', I(now_us), 'LIMIT', 0, limit)
  if #due == 0 then return end
  local prefix = string.sub(idx, 1, -2)
  for _, id in ipairs(due) do
    local hk = prefix .. 'r' .. id
    local v = redis.call('GET', hk)
    if v and string.sub(v, 1, 1) ~= 'd' then
      expire(idx, hk, id, cmsgpack.unpack(v), now_us)
    else
      redis.call('ZREM', idx, id)
    end
  end
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
