local id = redis.call('GET', KEYS[1])
if not id then return {} end
local rec = redis.call('HGET', KEYS[2], id)
if not rec then return {} end
local owner = cjson.decode(rec)['owner']
local account = redis.call('HGET', KEYS[3], owner) or false
local rate_key = ARGV[1] .. id .. ':' .. ARGV[2]
local n = redis.call('INCR', rate_key)
if n == 1 then redis.call('EXPIRE', rate_key, tonumber(ARGV[3])) end
return {id, rec, account, n}
