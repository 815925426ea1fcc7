-- A deployment's circuit breaker (fallback.Cooldowns' breaker, shared): one hash with
--   ou  open until, unix µs; 0 while closed
--   ps  when the half-open probe was let through, unix µs; 0 when none is out
--   f   consecutive failures while closed
--   t   trips since the last success: the backoff exponent
--   g   generation: changes on every transition; results of older generations are dropped
-- An absent hash is a closed breaker at generation 0, as in memory.

local function load(key)
  local v = redis.call('HMGET', key, 'ou', 'ps', 'f', 't', 'g')
  local b = {ou = tonumber(v[1]) or 0, ps = tonumber(v[2]) or 0, f = tonumber(v[3]) or 0,
             t = tonumber(v[4]) or 0, g = tonumber(v[5]) or 0}
  return b, v[5] ~= false
end

-- state: 0 closed, 1 open, 2 half-open (fallback.State's values).
local function state(b, now)
  if b.ou == 0 then return 0 elseif now < b.ou then return 1 end
  return 2
end

-- save writes b and keeps it idle ms after the end of its open period and of any probe
-- that may still be out, so that a breaker never expires while it matters.
local function save(key, b, now, probe, idle)
  redis.call('HSET', key, 'ou', I(b.ou), 'ps', I(b.ps), 'f', I(b.f), 't', I(b.t), 'g', I(b.g))
  local ttl = idle
  if b.ou > now then ttl = ttl + math.ceil((b.ou - now) / 1000) end
  if b.ou ~= 0 then ttl = ttl + math.ceil(probe / 1000) end
  redis.call('PEXPIRE', key, I(ttl))
end
