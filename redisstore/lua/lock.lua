-- lock: the rebuild lock, so that one replica of the fleet rebuilds a lost state.
--
-- KEYS[1]    the group's state hash {g}:s; KEYS[2] the lock {g}:b
-- ARGV       'a' to acquire or 'u' to unlock, the caller's token, the lock's life (ms)
--
-- Acquire returns {1} when the caller holds the lock now, {0} when another does, {2, epoch}
-- when the marker is there (the state was rebuilt meanwhile: nothing to do). Unlock deletes
-- the lock if the caller holds it and returns {1}, else {0}.

local S, B, token = KEYS[1], KEYS[2], ARGV[2]
if ARGV[1] == 'u' then
  if redis.call('GET', B) == token then
    redis.call('DEL', B)
    return {1}
  end
  return {0}
end
local e = redis.call('HGET', S, '_e')
if e then return {2, tonumber(e)} end
if redis.call('SET', B, token, 'NX', 'PX', ARGV[3]) then return {1} end
return {0}
