-- renew: push a hold's leases to now + lease time (never past the hold's expiry).
--
-- KEYS[1]    the hold key (its lease keys share its hash slot)
-- ARGV       lease time (µs), clock offset (µs), the hold id
--
-- Returns 1 renewed, 0 unknown or expired hold, -1 a lease had already lapsed.

local v = redis.call('GET', KEYS[1])
if not v or string.sub(v, 1, 1) == 'd' then return 0 end
local now_us = clock(tonumber(ARGV[2]))
local h = cmsgpack.unpack(v)
if h[1] <= now_us then return 0 end
local id = ARGV[3]
local exp = math.min(now_us + tonumber(ARGV[1]), h[1])
local ttl = I(math.ceil(tonumber(ARGV[1]) / 1000) + 1000)
local res = 1
for i = 3, #h, E do
  if h[i] == 5 then
    local key = h[i + 1]
    local score = redis.call('ZSCORE', key, id)
    if score and tonumber(score) > now_us then
      redis.call('ZADD', key, 'XX', I(exp), id)
      redis.call('PEXPIRE', key, ttl)
    else
      res = -1
    end
  end
end
return res
