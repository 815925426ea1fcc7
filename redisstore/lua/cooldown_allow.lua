-- Allow: may a call to the deployment start now? One atomic step, so that exactly one caller
-- across every replica gets a half-open probe.
-- KEYS[1] the breaker. ARGV: clock offset µs, ProbeTimeout µs, idle TTL ms.
-- Reply: {ok, gen, until µs (when refused), state, open until µs, now µs}.
local now = clock(tonumber(ARGV[1]))
local probe, idle = tonumber(ARGV[2]), tonumber(ARGV[3])
local b, exists = load(KEYS[1])
local st = state(b, now)
if st == 0 then
  return {1, I(b.g), 0, 0, 0, I(now)}
elseif st == 1 then
  return {0, I(b.g), I(b.ou), 1, I(b.ou), I(now)}
end
if b.ps ~= 0 and now < b.ps + probe then
  return {0, I(b.g), I(b.ps + probe), 2, I(b.ou), I(now)}
end
b.g = b.g + 1
b.ps = now
save(KEYS[1], b, now, probe, idle)
return {1, I(b.g), 0, 2, I(b.ou), I(now)}
