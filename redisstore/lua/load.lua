-- load: write state that a rebuild read from the ledger, or that a rejoin brings back from
-- a replica's local fallback, in batches.
--
-- KEYS[1]    the group's state hash {g}:s; KEYS[2] its reservation index {g}:z; KEYS[3] the
--            rebuild lock {g}:b
-- ARGV[1]    the rebuild's lock token, or '' for a rejoin (which needs the marker)
-- ARGV[2]    the lock's life (ms): each batch of a rebuild extends it
-- ARGV[3]    the batch's place in a rebuild: 'b' the first (the state is emptied first),
--            'l' another, 'c' the last (the marker is written and the lock deleted after
--            it), 'bc' the only one; a rejoin sends 'l'
-- ARGV[4]    the epoch the last batch writes into the marker
-- ARGV[5]    MessagePack array of operations, each a code and its operands:
--              1 budget:  field, amount to add, the lifetime budget's TTL field or '',
--                         its value (unix ms; -1: kept forever)
--              2 hold:    field r<id>, its value (holds.lua), its expiry (µs), count n,
--                         then n pairs of a held field and the amount to add to it
--              3 settled: field r<id>, until when the marker lives (µs)
--            A hold or a marker whose field exists already is skipped: a replay writes
--            each once.
--
-- Returns 1, or 0 when the caller does not hold the lock (it expired and another replica
-- took over: nothing written). A rejoin without the marker gets the TGLOST error.

local S, Z, B, token = KEYS[1], KEYS[2], KEYS[3], ARGV[1]
if token ~= '' then
  if redis.call('GET', B) ~= token then return 0 end
  redis.call('PEXPIRE', B, ARGV[2])
  if string.find(ARGV[3], 'b', 1, true) then redis.call('DEL', S, Z) end
elseif redis.call('HEXISTS', S, '_e') == 0 then
  return lost()
end
local ops = cmsgpack.unpack(ARGV[5])
local i = 1
while i <= #ops do
  local op = ops[i]
  if op == 1 then
    if ops[i + 2] ~= 0 then redis.call('HINCRBY', S, ops[i + 1], ops[i + 2]) end
    if ops[i + 3] ~= '' and redis.call('HEXISTS', S, ops[i + 3]) == 0 then
      redis.call('HSET', S, ops[i + 3], ops[i + 4])
    end
    i = i + 5
  elseif op == 2 then
    local n = ops[i + 4]
    if redis.call('HSETNX', S, ops[i + 1], ops[i + 2]) == 1 then
      redis.call('ZADD', Z, ops[i + 3], ops[i + 1])
      for j = 1, n do
        redis.call('HINCRBY', S, ops[i + 3 + 2 * j], ops[i + 4 + 2 * j])
      end
    end
    i = i + 5 + 2 * n
  elseif op == 3 then
    if redis.call('HSETNX', S, ops[i + 1], 'drebuilt') == 1 then
      redis.call('ZADD', Z, ops[i + 2], ops[i + 1])
    end
    i = i + 3
  else
    return redis.error_reply('ERR tollgate: load: unknown operation ' .. tostring(op))
  end
end
if token ~= '' and string.find(ARGV[3], 'c', 1, true) then
  redis.call('HSET', S, '_e', ARGV[4])
  redis.call('DEL', B)
end
return 1
