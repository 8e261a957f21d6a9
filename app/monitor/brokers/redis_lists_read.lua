local per, with_oldest = tonumber(ARGV[1]), ARGV[2] == '1'
local out, n = {}, 0
for i = 1, #KEYS - 1, per do
  local ready = 0
  for j = i, i + per - 1 do ready = ready + redis.call('LLEN', KEYS[j]) end
  n = n + 1
  out[n] = ready
  if with_oldest then
    for j = i, i + per - 1 do
      n = n + 1
      out[n] = redis.call('LINDEX', KEYS[j], -1)
    end
  end
end
out[n + 1] = redis.call('HLEN', KEYS[#KEYS])
return out
