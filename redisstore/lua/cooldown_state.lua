-- State: the breaker's state now, read only.
-- KEYS[1] the breaker. ARGV: clock offset µs.
-- Reply: {state, open until µs, now µs}.
local now = clock(tonumber(ARGV[1]))
local b = load(KEYS[1])
return {state(b, now), I(b.ou), I(now)}
