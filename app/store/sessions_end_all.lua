local ids = redis.call('SMEMBERS', KEYS[1])
local n = 0
for _, sha in ipairs(ids) do
  if ARGV[2] == '' or sha ~= ARGV[2] then
    n = n + redis.call('DEL', ARGV[1] .. sha)
    redis.call('SREM', KEYS[1], sha)
  end
end
return n
