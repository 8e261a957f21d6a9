-- Every known worker in one call: the heartbeat index, the event index, their hashes and the
-- finished-task counts (app.store.workers.read_all).
-- KEYS[1] heartbeat index, KEYS[2] event index; ARGV[1] limit, ARGV[2..4] the prefixes of the
-- heartbeat hash, the event hash and the counts hash (the hostname follows each).
local limit = tonumber(ARGV[1]) - 1
local beats = redis.call('ZREVRANGE', KEYS[1], 0, limit, 'WITHSCORES')
local events = redis.call('ZREVRANGE', KEYS[2], 0, limit, 'WITHSCORES')
local reports, event_hashes, counts, counted = {}, {}, {}, {}
for i = 1, #beats, 2 do
  reports[#reports + 1] = redis.call('HGETALL', ARGV[2] .. beats[i])
  counted[beats[i]] = true
  counts[#counts + 1] = redis.call('HGETALL', ARGV[4] .. beats[i])
end
for i = 1, #events, 2 do
  event_hashes[#event_hashes + 1] = redis.call('HGETALL', ARGV[3] .. events[i])
  if not counted[events[i]] then
    counted[events[i]] = true
    counts[#counts + 1] = redis.call('HGETALL', ARGV[4] .. events[i])
  end
end
return {beats, events, reports, event_hashes, counts}
