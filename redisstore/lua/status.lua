-- status: read quotas, after charging reservations that have expired and returning leases
-- that have lapsed (what the next reserve would do; it changes no quota's meaning).
--
-- KEYS[1]       the group's state hash {g}:s; KEYS[2] its reservation index {g}:z
-- ARGV[1]       MessagePack array: clock offset (µs), number of quotas, then per quota its
--               kind and, for a day or month, the boundaries w0..w3 (µs; see pick)
-- ARGV[1+i]     quota i's field base name
--
-- Returns {now (µs), then three numbers per quota as reserve returns them, then the epoch};
-- without the marker, the TGLOST error.

local S, Z = KEYS[1], KEYS[2]
local a = cmsgpack.unpack(ARGV[1])
local now_us = clock(a[1])
local n = a[2]
local epoch = redis.call('HGET', S, '_e')
if not epoch then return lost() end
while expire_due(S, Z, now_us, 256) == 256 do end
local out = {now_us}
local p = 3
for i = 1, n do
  local kind, name = a[p], ARGV[1 + i]
  local o = 3 * i - 1
  p = p + 1
  if kind == 1 then
    out[o], out[o + 1], out[o + 2] = redis.call('HGET', S, name) or '', 0, 0
  elseif kind == 5 then
    out[o], out[o + 1], out[o + 2] = tonumber(redis.call('HGET', S, name)) or 0, 0, 0
  else
    local start = 0
    if kind ~= 4 then
      start = pick(a[p], a[p + 1], a[p + 2], a[p + 3], now_us)
      if not start then return clock_error() end
      p = p + 4
    end
    local b = bname(name, start)
    local f = redis.call('HMGET', S, b .. 'u', b .. 'h')
    out[o], out[o + 1], out[o + 2] = tonumber(f[1]) or 0, tonumber(f[2]) or 0, start
  end
end
out[#out + 1] = tonumber(epoch)
return out
