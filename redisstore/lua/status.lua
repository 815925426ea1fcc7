-- status: read quotas, after charging holds that have expired (what the next reserve
-- would do; it changes no quota's meaning).
--
-- KEYS[1]       the group's expiry index
-- KEYS[1+i]     quota i's state key (see reserve.lua)
-- ARGV[1]       MessagePack array: clock offset (µs), number of quotas, then per quota its
--               kind and, for a day or month, the boundaries w0..w3 (µs; see pick)
--
-- Returns {now (µs), then three numbers per quota as reserve returns them}.

local a = cmsgpack.unpack(ARGV[1])
local now_us = clock(a[1])
local n = a[2]
expire_due(KEYS[1], now_us, 64)
local out = {now_us}
local p = 3
for i = 1, n do
  local kind = a[p]
  local key = KEYS[1 + i]
  local o = 3 * i - 1
  p = p + 1
  if kind == 1 then
    out[o], out[o + 1], out[o + 2] = redis.call('GET', key) or '', 0, 0
  elseif kind == 5 then
    out[o], out[o + 1], out[o + 2] = redis.call('ZCOUNT', key, '(' .. I(now_us), '+inf'), 0, 0
  else
    local start = 0
    if kind ~= 4 then
      start = pick(a[p], a[p + 1], a[p + 2], a[p + 3], now_us)
      if not start then return clock_error() end
      p = p + 4
    end
    local f = redis.call('HMGET', window_key(key, start), 'u', 'h')
    out[o], out[o + 1], out[o + 2] = tonumber(f[1]) or 0, tonumber(f[2]) or 0, start
  end
end
return out
