local hi, lo = ARGV[1], ARGV[2]
local limit, offset, max_scan, chunk = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local task_prefix, word_max, n_checks, all_key = ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[10]
local children_prefix = ARGV[11]
local cfields, cvalues = {}, {}
for c = 12, 11 + 2 * n_checks, 2 do
  cfields[#cfields + 1] = ARGV[c]
  cvalues[#cvalues + 1] = ARGV[c + 1]
end
local wkeys, wtoks, wfull = {}, {}, {}
for w = 12 + 2 * n_checks, #ARGV, 2 do
  wkeys[#wkeys + 1] = ARGV[w]
  wtoks[#wtoks + 1] = ARGV[w + 1]
  wfull[#wfull + 1] = redis.call('ZCARD', ARGV[w]) >= word_max
end
local out, skipped, start, scanned = {}, 0, 0, 0
while #out < limit and scanned < max_scan do
  local ids = redis.call('ZREVRANGEBYSCORE', KEYS[1], hi, lo, 'LIMIT', start, chunk)
  if #ids == 0 then break end
  start = start + #ids
  scanned = scanned + #ids
  for _, id in ipairs(ids) do
    local ok = true
    for k = 2, #KEYS do
      if not redis.call('ZSCORE', KEYS[k], id) then ok = false break end
    end
    if ok and n_checks > 0 then
      local got = redis.call('HMGET', task_prefix .. id, unpack(cfields))
      for c = 1, n_checks do
        if (got[c] or '') ~= cvalues[c] then ok = false break end
      end
    end
    local text = nil
    for w = 1, (ok and #wkeys or 0) do
      if not redis.call('ZSCORE', wkeys[w], id) then
        if not wfull[w] then ok = false break end
        if not text then
          local t = redis.call('HMGET', task_prefix .. id, 'args', 'kwargs')
          text = string.lower((t[1] or '') .. ' ' .. (t[2] or ''))
        end
        if not string.find(text, wtoks[w], 1, true) then ok = false break end
      end
    end
    if ok then
      if skipped < offset then skipped = skipped + 1 else
        out[#out + 1] = id
        if #out >= limit then break end
      end
    end
  end
end
local rows = {}
for _, id in ipairs(out) do
  local h = redis.call('HGETALL', task_prefix .. id)
  if #h > 0 then
    local row = {id, redis.call('ZSCORE', all_key, id) or false, h}
    if children_prefix ~= '' then row[4] = redis.call('SMEMBERS', children_prefix .. id) end
    rows[#rows + 1] = row
  end
end
return rows
