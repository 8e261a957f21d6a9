local name = redis.call('HGET', KEYS[1], 'name')
local n = redis.call('DEL', KEYS[1])
if name then redis.call('SREM', ARGV[1] .. name, ARGV[2]) end
return n
