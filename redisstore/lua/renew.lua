-- renew: push a reservation's leases to now + lease time (never past its expiry).
--
-- KEYS[1]    the group's state hash {g}:s; KEYS[2] its reservation index {g}:z
-- ARGV       lease time (µs), clock offset (µs), the reservation id, the epoch it was made
--            in (0: unknown)
--
-- Returns 1 renewed (or nothing to renew: no lease, or a reservation of an earlier epoch,
-- whose leases were lost with the state), 0 unknown or expired reservation, -1 its leases
-- had already lapsed. Without the marker, the TGLOST error.

local S, Z, id = KEYS[1], KEYS[2], ARGV[3]
local f = redis.call('HMGET', S, 'r' .. id, '_e')
if not f[2] then return lost() end
local v = f[1]
if not v then
  local ep = tonumber(ARGV[4])
  if ep ~= 0 and ep ~= tonumber(f[2]) then return 1 end
  return 0
end
if string.sub(v, 1, 1) == 'd' then return 0 end
local now_us = clock(tonumber(ARGV[2]))
local expiry = tonumber(string.sub(v, 1, 16))
if expiry <= now_us then return 0 end
local score = redis.call('ZSCORE', Z, 'L' .. id)
if not score then
  local h = entries(v)
  for i = 1, #h, E do
    if h[i] == 5 then return -1 end
  end
  return 1
end
if tonumber(score) <= now_us then return -1 end
redis.call('ZADD', Z, 'XX', math.min(now_us + tonumber(ARGV[1]), expiry), 'L' .. id)
return 1
