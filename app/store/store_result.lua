-- Store one task state as Celery's RedisBackend does, in one call (app.telemetry.result_backend).
-- KEYS[1] the result key. ARGV: the encoded meta, its expiry in seconds (0: none), then the
-- delivery hash, field and TTL (field '': no count). Returns {delivery number or 0, 1 when the meta
-- was stored / 0 when a stored SUCCESS was kept}.
local rkey, meta, rexp = KEYS[1], ARGV[1], tonumber(ARGV[2])
local dkey, dfield, dttl = ARGV[3], ARGV[4], tonumber(ARGV[5])
local stored, delivery = 1, 0
local current = redis.call('GET', rkey)
if current and string.find(current, 'SUCCESS', 1, true) then
  if string.sub(current, 1, 22) == '{"status": "SUCCESS", ' then
    stored = 0
  else
    local ok, m = pcall(cjson.decode, current)
    if ok and type(m) == 'table' and m['status'] == 'SUCCESS' then stored = 0 end
  end
end
if stored == 1 then
  if rexp > 0 then redis.call('SETEX', rkey, rexp, meta) else redis.call('SET', rkey, meta) end
  redis.call('PUBLISH', rkey, meta)
end
if dfield ~= '' then
  delivery = redis.call('HINCRBY', dkey, dfield, 1)
  redis.call('EXPIRE', dkey, dttl)
end
return {delivery, stored}
