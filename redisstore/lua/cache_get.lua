-- A cache entry, or nil. A script rather than GET so that a Client needs only Scripter.
return redis.call('GET', KEYS[1])
