-- Stores a cache entry for ARGV[2] ms (TTL + StaleFor).
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
