local s = redis.call('HGETALL', KEYS[1])
if #s == 0 then return {} end
local name
for i = 1, #s, 2 do if s[i] == 'name' then name = s[i + 1] end end
local account = false
if name then account = redis.call('HGET', KEYS[2], name) end
return {s, account}
