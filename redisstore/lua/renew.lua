-- renew: push a reservation's leases to now + lease time (never past its expiry).
--
-- KEYS[1]    the group's state hash {g}:s; KEYS[2] its reservation index {g}:z
-- ARGV       lease time (µs), clock offset (µs), the reservation id
--
-- Returns 1 renewed (or nothing to renew), 0 unknown or expired reservation, -1 its leases
-- had already lapsed.

local S, Z, id = KEYS[1], KEYS[2], ARGV[3]
local v = redis.call('HGET', S, 'r' .. id)
if not v or string.sub(v, 1, 1) == 'd' then return 0 end
local now_us = clock(tonumber(ARGV[2]))
local expiry = tonumber(string.sub(v, 1, 16))
if expiry <= now_us then return 0 end
local score = redis.call('ZSCORE', Z, 'L' .. id)
if not score then
  local h = cmsgpack.unpack(string.sub(v, 17))
  for i = 1, #h, E do
    if h[i] == 5 then return -1 end
  end
  return 1
end
if tonumber(score) <= now_us then return -1 end
redis.call('ZADD', Z, 'XX', math.min(now_us + tonumber(ARGV[1]), expiry), 'L' .. id)
return 1
