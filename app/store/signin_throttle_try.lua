local now = tonumber(ARGV[1])
local limits = {tonumber(ARGV[2]), tonumber(ARGV[3])}
local base, cap, window = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local wait, by = 0, 0
for i = 1, 2 do
  local c = tonumber(redis.call('HGET', KEYS[i], 'count') or '0')
  if c >= limits[i] then
    local last = tonumber(redis.call('HGET', KEYS[i], 'last_at') or '0')
    local w = last + math.min(base * 2 ^ (c - limits[i]), cap) - now
    if w > wait then wait, by = w, i end
  end
end
if wait > 0 then
  local n = redis.call('HINCRBY', KEYS[by], 'throttled', 1)
  redis.call('EXPIRE', KEYS[by], window)
  return {'throttled', tostring(wait), n, 0}
end
local ended, count = 0, 0
for i = 1, 2 do
  local c = redis.call('HINCRBY', KEYS[i], 'count', 1)
  if i == 1 then count = c end
  redis.call('HSET', KEYS[i], 'last_at', ARGV[1])
  ended = ended + tonumber(redis.call('HGET', KEYS[i], 'throttled') or '0')
  redis.call('HDEL', KEYS[i], 'throttled')
  redis.call('EXPIRE', KEYS[i], window)
end
return {'go', '0', ended, count}
