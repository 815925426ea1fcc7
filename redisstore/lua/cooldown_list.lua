-- List: every breaker of the slot group that has state, read only, for an operator.
-- KEYS[1] the group's key prefix (it routes the script to the group's slot; every breaker
-- key shares its hash tag, so a SCAN of that node finds them all).
-- ARGV: clock offset µs, the SCAN pattern of breaker keys.
-- Reply: {now µs, then per breaker: key, state, open until µs, failures, trips}.
local now = clock(tonumber(ARGV[1]))
local out = {I(now)}
local cursor = '0'
repeat
  local r = redis.call('SCAN', cursor, 'MATCH', ARGV[2], 'COUNT', 256)
  cursor = r[1]
  for _, k in ipairs(r[2]) do
    local b, exists = load(k)
    if exists then
      out[#out + 1] = k
      out[#out + 1] = state(b, now)
      out[#out + 1] = I(b.ou)
      out[#out + 1] = I(b.f)
      out[#out + 1] = I(b.t)
    end
  end
until cursor == '0'
return out
