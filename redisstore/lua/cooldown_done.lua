-- done: the result of a call allowed at generation gen, with fallback.Cooldowns' rules.
-- KEYS[1] the breaker. ARGV: clock offset µs, gen, verdict (0 neutral, 1 success,
-- 2 failure, 3 rate limited, 4 disabled), Retry-After µs (0: none), Cooldown µs,
-- FailureThreshold, MaxCooldown µs, ProbeTimeout µs, idle TTL ms.
-- Reply: {state, open until µs, now µs} after the result.
local now = clock(tonumber(ARGV[1]))
local gen, v, ra = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local cd, thr, mx = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local probe, idle = tonumber(ARGV[8]), tonumber(ARGV[9])
local b, exists = load(KEYS[1])

local function reply() return {state(b, now), I(b.ou), I(now)} end

-- A breaker gets state only at its first counted failure; a result of an older
-- generation (a call that started before a transition) is ignored.
if (not exists and (gen ~= 0 or v <= 1)) or b.g ~= gen then return reply() end

-- backoff is Cooldown doubled trips times, capped at MaxCooldown.
local function backoff(trips)
  local d = cd
  for _ = 1, trips do
    if d >= math.floor(mx / 2) then return mx end
    d = d * 2
  end
  return math.min(d, mx)
end

local function trip(d)
  b.ou, b.ps, b.f, b.t, b.g = now + d, 0, 0, b.t + 1, b.g + 1
end

local isProbe = b.ou ~= 0
if v == 0 then
  -- The probe proved nothing either way: let the next caller probe.
  if not isProbe then return reply() end
  b.ps = 0
elseif v == 1 then
  if isProbe then
    b = {ou = 0, ps = 0, f = 0, t = 0, g = b.g + 1}
  elseif b.f == 0 and b.t == 0 then
    return reply()
  else
    b.f, b.t = 0, 0
  end
elseif v == 2 then
  b.f = b.f + 1
  if isProbe or b.f >= thr then trip(backoff(b.t)) end
elseif v == 3 then
  local d = backoff(b.t)
  if ra > 0 then d = math.min(ra, mx) end
  trip(d)
elseif v == 4 then
  trip(mx)
end
save(KEYS[1], b, now, probe, idle)
return reply()
