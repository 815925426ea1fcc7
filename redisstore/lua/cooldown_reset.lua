-- Reset: close a breaker and forget its failures, as fallback.Cooldowns.Reset: the
-- generation moves on, so that results of calls let through before are ignored.
-- KEYS[1] the breaker. ARGV: clock offset µs, ProbeTimeout µs, idle TTL ms.
-- Reply: 1 when it had state, else 0.
local now = clock(tonumber(ARGV[1]))
local b, exists = load(KEYS[1])
if not exists then return 0 end
b = {ou = 0, ps = 0, f = 0, t = 0, g = b.g + 1}
save(KEYS[1], b, now, tonumber(ARGV[2]), tonumber(ARGV[3]))
return 1
