redis.call('DEL', KEYS[1])
local c = tonumber(redis.call('HGET', KEYS[2], 'count') or '0')
if c > 0 then redis.call('HINCRBY', KEYS[2], 'count', -1) end
return c
