-- status: read quotas without changing them.
--
-- KEYS[2i-1], KEYS[2i]  quota i's state and holds keys
-- ARGV                  clock offset (us), number of quotas, then per quota: kind and the
--                       calendar boundaries w0..w3 (see reserve.lua)
--
-- Returns {now_ns, per quota: rate {tat_ns or ''}, lease {count}, budget {used, held,
-- held_past_expiry, window_end_us}}.

local now_us, now_s, now_n = clock(tonumber(ARGV[1]))
local n = tonumber(ARGV[2])
local out = {join(now_s, now_n)}
for i = 1, n do
  local b = 2 + (i - 1) * 5
  local kind = tonumber(ARGV[b + 1])
  local main, aux = KEYS[2 * i - 1], KEYS[2 * i]
  if kind == 1 then
    out[i + 1] = {redis.call('GET', main) or ''}
  elseif kind == 5 then
    out[i + 1] = {redis.call('ZCOUNT', main, '(' .. I(now_us), '+inf')}
  else
    local f = redis.call('HMGET', main, 'u', 'h', 's')
    local u, h = tonumber(f[1]) or 0, tonumber(f[2]) or 0
    local start, stop = 0, 0
    if kind ~= 4 then
      local w0, w1, w2, w3 = tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4]), tonumber(ARGV[b + 5])
      if now_us >= w1 and now_us < w2 then start, stop = w1, w2
      elseif now_us >= w2 and now_us < w3 then start, stop = w2, w3
      elseif now_us >= w0 and now_us < w1 then start, stop = w0, w1
      else
        return redis.error_reply('ERR tollgate: server TIME is outside the calendar windows sent by the client (clocks differ by more than a day)')
      end
      if tonumber(f[3]) ~= start then u, h = 0, 0 end
    end
    local d = 0
    if h > 0 then
      for _, m in ipairs(redis.call('ZRANGEBYSCORE', aux, '-inf', I(now_us), 'LIMIT', 0, 256)) do
        local amt_s, st_s = string.match(m, '|(%d+)|(%d+)$')
        if kind == 4 or tonumber(st_s) == start then d = d + tonumber(amt_s) end
      end
    end
    out[i + 1] = {u, h, d, stop}
  end
end
return out
