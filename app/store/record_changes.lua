-- A batch of task state changes (app.store.writer: one call per batch). ARGV: the header
-- (retention TTL, task cap, counter TTL, state index prefix, timeline cap, all-tasks key, names key,
-- word index cap, failure groups key, the unindexed state), then the batch as one JSON array of
-- changes, each carrying its own key names. Counters are summed per batch and written once per key.
local ttl, max_tasks, cttl, state_prefix = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local tl_max = tonumber(ARGV[5])
local K_all, K_names, word_max, K_fgs = ARGV[6], ARGV[7], tonumber(ARGV[8]), ARGV[9]
local unindexed, batch = ARGV[10], cjson.decode(ARGV[11])
local incr, hincr, hfloat, ttl_keys = {}, {}, {}, {}
-- index changes gathered per key and sent once per batch (a batch holds each task once, `_merge`)
local zrem, zadd, zaddnx, names, wordkeys = {}, {}, {}, {}, {}
local function bump(key, field, by)
  local t = hincr[key]
  if not t then t = {} hincr[key] = t end
  t[field] = (t[field] or 0) + by
end
local function push(tbl, key, a, b)
  local t = tbl[key]
  if not t then t = {} tbl[key] = t end
  t[#t + 1] = a
  if b then t[#t + 1] = b end
end
local any_new = false
for c = 1, #batch do
  local ch = batch[c]
  local id, state, now, src, name, queue, worker = ch[1], ch[2], ch[3], ch[4], ch[5], ch[6], ch[7]
  local bucket, runtime, fp, exc_type, fmsg = ch[8], ch[9], ch[10], ch[11], ch[12]
  local fields, fill, marks, words_if_new, tl, toks = ch[13], ch[14], ch[15], ch[16] == 1, ch[17], ch[18]
  local K = ch[19]
  local K_task, K_state, K_name = K[1], K[2], K[3]
  local K_count, K_hist, K_wc, K_children, K_rate, K_fg, K_fgids = K[4], K[5], K[6], K[7], K[8], K[9], K[10]
  local nfields, nfill, n_tl, n_words = #fields / 2, #fill / 2, #tl, #toks
  local mine_f, theirs_f = 'seen_' .. src, 'seen_' .. (src == 's' and 'e' or 's')
  local cur = redis.call('HMGET', K_task, 'state', 'updated_at', mine_f, theirs_f, 'args', 'name', 'queue', 'worker', 'tn', 't1', 'app')
  local prev, prev_at = cur[1], tonumber(cur[2])
  local mine, theirs, had_args = cur[3] or '', cur[4] or '', cur[5]
  local tn = tonumber(cur[9]) or 0
  -- occurrences (one mark per state a writer saw, WRITER_MARKS): a step the other writer already
  -- recorded as often is a duplicate; a state the same writer repeats at once updates that step
  local keep, counted, seen0 = {}, false, mine
  for i = 1, n_tl do
    local m = string.sub(marks, i, i)
    if m == 'p' then
      if tn + #keep < tl_max then keep[#keep + 1] = tl[i] end
      counted = true
    elseif src == 's' and string.sub(mine, -1) == m then
      -- the signal adapter recording a step again (task_failure, then postrun): counted once, where
      -- it was new (each Celery event is a step of its own, even when two arrive out of order)
      if i == 1 then counted = false end
    else
      mine = mine .. m
      local _, n_mine = string.gsub(mine, m, '')
      local _, n_theirs = string.gsub(theirs, m, '')
      counted = n_mine > n_theirs
      if counted then keep[#keep + 1] = tl[i] end
    end
  end
  local stale = prev and (#keep == 0 or (state == 'SENT' and prev ~= 'SENT') or (prev_at and prev_at > tonumber(now)))
  local extra = {}
  if mine ~= seen0 then extra[#extra + 1] = mine_f extra[#extra + 1] = mine end
  -- timeline entries after the first keep their time relative to it ("+0.5"): 10+ bytes less each
  local base = cur[10] and tonumber(string.match(cur[10], '^[^|]*|([^|]*)|'))
  for i = 1, #keep do
    tn = tn + 1
    local e = keep[i]
    if base then
      local st, at, info = string.match(e, '^([^|]*)|([^|]*)|(.*)$')
      local off = string.format('%.6f', tonumber(at) - base):gsub('0+$', ''):gsub('%.$', '')
      if string.sub(off, 1, 1) ~= '-' then off = '+' .. off end
      e = st .. '|' .. off .. '|' .. info
    else
      base = tonumber(string.match(e, '^[^|]*|([^|]*)|'))
    end
    extra[#extra + 1] = 't' .. tn
    extra[#extra + 1] = e
  end
  if #keep > 0 then extra[#extra + 1] = 'tn' extra[#extra + 1] = tn end
  if stale then
    -- an older change (late publisher, second writer) or one already recorded: fill gaps, keep the
    -- newer state and values
    -- (one HMGET of the change's fields, then one HSET of the missing ones and the extras: the
    -- same as HSETNX per field, in two calls; a late SENT is the common case of this path)
    local at, asked, set = {}, {}, {}
    for i = 1, 2 * nfields, 2 do
      if fields[i] ~= 'state' and fields[i] ~= 'updated_at' then at[#at + 1] = i asked[#asked + 1] = fields[i] end
    end
    if #asked > 0 then
      local have = redis.call('HMGET', K_task, unpack(asked))
      for j = 1, #at do
        if not have[j] then set[#set + 1] = fields[at[j]] set[#set + 1] = fields[at[j] + 1] end
      end
    end
    for i = 1, #extra do set[#set + 1] = extra[i] end
    if #set > 0 then redis.call('HSET', K_task, unpack(set)) end
  else
    if prev and prev ~= state and prev ~= unindexed then push(zrem, state_prefix .. prev, id) end
    for i = 1, #extra do fields[#fields + 1] = extra[i] end
    redis.call('HSET', K_task, unpack(fields))
    if state ~= unindexed then push(zadd, K_state, now, id) end
  end
  for i = 1, 2 * nfill, 2 do redis.call('HSETNX', K_task, fill[i], fill[i + 1]) end
  if not prev then
    redis.call('EXPIRE', K_task, ttl)
    push(zaddnx, K_all, now, id)
  elseif state == 'SUCCESS' or state == 'FAILURE' or state == 'REVOKED' then
    redis.call('EXPIRE', K_task, ttl)
  end
  if K_name ~= '' and cur[6] ~= name then
    push(zaddnx, K_name, now, id)
    names[name] = true
  end
  if n_words > 0 and not (words_if_new and had_args) then
    for j = 1, n_words do
      push(zaddnx, K[10 + j], now, id)
      wordkeys[K[10 + j]] = true
    end
  end
  if K_children ~= '' then
    redis.call('SADD', K_children, id)
    redis.call('EXPIRE', K_children, ttl)
  end
  if counted then
    incr[K_count] = (incr[K_count] or 0) + 1
    if K_hist ~= '' then
      bump(K_hist, bucket, 1)
      hfloat[K_hist] = (hfloat[K_hist] or 0) + tonumber(runtime)
    end
    if K_wc ~= '' then bump(K_wc, state, 1) end
    if state == 'SUCCESS' or state == 'FAILURE' then
      -- failure rates per task name and queue (alert rules): T = finished, F = failed
      local nm = name ~= '' and name or cur[6]
      local q = queue ~= '' and queue or cur[7]
      ttl_keys[K_rate] = true
      if nm then bump(K_rate, 'T|n|' .. nm, 1) end
      if q then bump(K_rate, 'T|q|' .. q, 1) end
      if state == 'FAILURE' then
        if nm then bump(K_rate, 'F|n|' .. nm, 1) end
        if q then bump(K_rate, 'F|q|' .. q, 1) end
        if K_fg ~= '' then
          -- the failure's group (app.store.failure_groups)
          redis.call('HINCRBY', K_fg, 'count', 1)
          redis.call('HSETNX', K_fg, 'first_at', now)
          redis.call('HSET', K_fg, 'last_at', now, 'last_id', id, 'name', nm or '', 'exc_type', exc_type, 'message', fmsg)
          if q then redis.call('HINCRBY', K_fg, 'q|' .. q, 1) end
          local w = worker ~= '' and worker or cur[8]
          if w then redis.call('HINCRBY', K_fg, 'w|' .. w, 1) end
          -- the monitored app of the task (its 'app' field; none: the console's own)
          local ap = cur[11]
          if not ap then
            for i = 1, 2 * nfields, 2 do if fields[i] == 'app' then ap = fields[i + 1] end end
          end
          redis.call('HINCRBY', K_fg, 'a|' .. ((ap and ap ~= '') and ap or 'console'), 1)
          redis.call('EXPIRE', K_fg, ttl)
          redis.call('ZADD', K_fgids, now, id)
          redis.call('ZREMRANGEBYRANK', K_fgids, 0, -10001)
          redis.call('EXPIRE', K_fgids, ttl)
          redis.call('ZADD', K_fgs, now, fp)
        end
      end
    end
  end
end
-- members in chunks of 1,000 per command (Lua's unpack has a stack limit)
local function each_chunk(cmd, key, t, opt)
  local n = 0
  for i = 1, #t, 1000 do
    local last = math.min(#t, i + 999)
    if opt then n = n + redis.call(cmd, key, opt, unpack(t, i, last))
    else n = n + redis.call(cmd, key, unpack(t, i, last)) end
  end
  return n
end
for key, t in pairs(zrem) do each_chunk('ZREM', key, t) end
for key, t in pairs(zadd) do each_chunk('ZADD', key, t) end
for key, t in pairs(zaddnx) do
  local added = each_chunk('ZADD', key, t, 'NX')
  if key == K_all and added > 0 then any_new = true end
end
for name in pairs(names) do redis.call('SADD', K_names, name) end
-- each word's index keeps its newest WORD_INDEX_MAX ids and expires with the history
for wk in pairs(wordkeys) do
  if redis.call('ZCARD', wk) > word_max then redis.call('ZREMRANGEBYRANK', wk, 0, -(word_max + 1)) end
  redis.call('EXPIRE', wk, ttl)
end
for key, by in pairs(incr) do
  redis.call('INCRBY', key, by)
  redis.call('EXPIRE', key, cttl)
end
for key, t in pairs(hincr) do
  for f, by in pairs(t) do redis.call('HINCRBY', key, f, by) end
  if ttl_keys[key] then redis.call('EXPIRE', key, cttl) end
end
for key, by in pairs(hfloat) do redis.call('HINCRBYFLOAT', key, 'sum', by) end
if any_new then redis.call('ZREMRANGEBYRANK', K_all, 0, -(max_tasks + 1)) end
return #batch
