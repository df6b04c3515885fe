"""The Redis engine's key layout and the Lua scripts that change several keys at once.

Why Lua: a check and the writes it guards (is this entry processed? is this session live? is this delivery
still pending?) must be one step even when several processes share the server. A script runs atomically
and in one round trip, where WATCH/MULTI would need a retry loop. Redis does not roll a script back when
it fails half-way, so every script checks first and writes after, and the engine validates all input in
Python before calling one: a bad call changes nothing.

Keys, each under the store's prefix `{namespace}:` (P below):

    P connectors              hash   name -> JSON {config, delivery, updated_at}; never expires
    P h:{id}                  hash   handover field -> JSON value, plus `.member` (its index member)
    P entries:{id}            set    processed MIAW entry ids
    P messages:{id}           hash   m:{client id} -> JSON [miaw id, created_at, extra]; s:{client id} -> state
    P outbox:{id}             zset   delivery id by seq: every delivery of the handover (replay, expiry)
    P pending:{id}            zset   delivery id by seq: its pending ones; the head is the first
    P delivery:{id}           hash   delivery fields as plain strings (numbers, state) and JSON payload
    P deliveries:{state}      zset   delivery id by seq, one per DeliveryState (list_deliveries)
    P due                     zset   handover id by its head's next_attempt_at (only handovers with pending)
    P live                    hash   JSON(connector) .. JSON(session_id) -> id of its live handover
    P handovers               zset   `{order:016x}:{id}` by created_at; the insertion order breaks ties
    P handovers:{state}       zset   the same members, one per HandoverState
    P order, P seq            string counters for handover index members and delivery seqs
    P expiring                zset   handover index member by the server time (ms) its keys expire at

A handover whose state is ended and which has no pending delivery is expiring: its h, entries, messages
and delivery keys get PEXPIREAT (the ended TTL, or the dead-letter TTL when longer and one of its
deliveries is dead). `collect()` later frees what cannot expire by itself (its index entries
and its outbox, kept until then to know its deliveries); refresh() runs it after every handover or
outbox change, a few handovers at a time.

Scripts build keys from the prefix rather than receiving them all in KEYS, because most keys depend on
stored data (a delivery's handover): this suits one Redis server (or a primary with replicas), not Redis
Cluster. Every script takes ARGV[1] = prefix and ARGV[2] = `ttl_ms:dead_ttl_ms` (expiry), then its own arguments.
"""

from __future__ import annotations

__all__ = [
    "CREATE_HANDOVER",
    "DUE_DELIVERIES",
    "FIND_LIVE",
    "LIST_DELIVERIES",
    "LIST_HANDOVERS",
    "MARK_MESSAGE_SENT",
    "RECORD_EVENT",
    "REDRIVE",
    "SETTLE",
    "UPDATE_HANDOVER",
]

_PRELUDE = """
local P = ARGV[1]
-- ARGV[2] is `ttl_ms:dead_ttl_ms`: how long an ended handover's keys live, and the least they live while
-- they hold a dead letter (waiting for a re-drive).
local TTL_MS, DEAD_TTL_MS = string.match(ARGV[2], '^(%d+):(%d+)$')
TTL_MS, DEAD_TTL_MS = tonumber(TTL_MS), tonumber(DEAD_TTL_MS)
local function k(kind, id) return P .. kind .. ':' .. id end
local function state_of(h) return cjson.decode(redis.call('HGET', h, 'state')) end
-- Stored JSON strings end at their first unescaped quote, so their concatenation is unambiguous.
local function live_field(h) return redis.call('HGET', h, 'connector') .. redis.call('HGET', h, 'session_id') end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Frees the index entries and outboxes of handovers whose keys have expired; bounded work per call.
local function collect()
  local gone = redis.call('ZRANGEBYSCORE', P .. 'expiring', '-inf', now_ms(), 'LIMIT', 0, 16)
  for _, member in ipairs(gone) do
    local id = string.sub(member, 18)
    redis.call('ZREM', P .. 'handovers', member)
    redis.call('ZREM', P .. 'handovers:ended', member)
    for _, d in ipairs(redis.call('ZRANGE', k('outbox', id), 0, -1)) do
      -- A delivery hash that exists again is a new delivery that reused the id: keep it listed.
      if redis.call('EXISTS', k('delivery', d)) == 0 then
        redis.call('ZREM', P .. 'deliveries:delivered', d)
        redis.call('ZREM', P .. 'deliveries:dead', d)
      end
    end
    redis.call('DEL', k('outbox', id))
    redis.call('ZREM', P .. 'expiring', member)
  end
end

-- Start or stop the expiry of a handover's keys: they expire once it has ended with nothing pending.
-- A handover already expiring keeps its expiry time (later writes do not extend it), and keys created
-- since (a first processed entry, say) get the same time.
local function refresh(id)
  local h = k('h', id)
  local member = redis.call('HGET', h, '.member')
  if not member then return end
  local at = tonumber(redis.call('ZSCORE', P .. 'expiring', member))
  local ending = state_of(h) == 'ended' and redis.call('EXISTS', k('pending', id)) == 0
  -- The outbox is walked only when the expiry changes or is kept: a live handover's every event walked its
  -- whole history, and that made the Redis server the fan-in's bottleneck.
  if ending or at then
    local keys = {h, k('entries', id), k('messages', id)}
    local ttl = TTL_MS
    for _, d in ipairs(redis.call('ZRANGE', k('outbox', id), 0, -1)) do
      keys[#keys + 1] = k('delivery', d)
      if redis.call('HGET', k('delivery', d), 'state') == 'dead' then ttl = math.max(ttl, DEAD_TTL_MS) end
    end
    if ending then
      at = at or (now_ms() + ttl)
      redis.call('ZADD', P .. 'expiring', at, member)
      for _, key in ipairs(keys) do redis.call('PEXPIREAT', key, at) end
    else
      redis.call('ZREM', P .. 'expiring', member)
      for _, key in ipairs(keys) do redis.call('PERSIST', key) end
    end
  end
  collect()
end

-- Keep a handover's `due` score equal to its head's next attempt, or drop it when nothing is pending.
local function reschedule(hid)
  local head = redis.call('ZRANGE', k('pending', hid), 0, 0)
  if #head == 0 then
    redis.call('ZREM', P .. 'due', hid)
  else
    redis.call('ZADD', P .. 'due', redis.call('HGET', k('delivery', head[1]), 'next_attempt_at'), hid)
  end
end

-- The live handover a change to `new_state` would collide with (reviving an ended one), or nil.
local function revive_conflict(id, new_state)
  local h = k('h', id)
  if new_state == '' or new_state == 'ended' or state_of(h) ~= 'ended' then return nil end
  local other = redis.call('HGET', P .. 'live', live_field(h))
  if other then return redis.call('HGETALL', k('h', other)) end
  return nil
end

-- Write checked field/JSON pairs and keep the indexes in step with state and created_at.
local function apply(id, new_state, created_at, pairs)
  local h = k('h', id)
  local old_state = state_of(h)
  redis.call('HSET', h, unpack(pairs))
  local state = new_state ~= '' and new_state or old_state
  -- Most writes (an agent's message) change neither: the indexes and the live field are then left as they are.
  if state ~= old_state or created_at ~= '' then
    local member = redis.call('HGET', h, '.member')
    local score = created_at ~= '' and created_at or redis.call('ZSCORE', P .. 'handovers', member)
    redis.call('ZADD', P .. 'handovers', score, member)
    redis.call('ZREM', P .. 'handovers:' .. old_state, member)
    redis.call('ZADD', P .. 'handovers:' .. state, score, member)
  end
  if state == 'ended' or old_state == 'ended' then
    local lf = live_field(h)
    if state ~= 'ended' then redis.call('HSET', P .. 'live', lf, id)
    elseif redis.call('HGET', P .. 'live', lf) == id then redis.call('HDEL', P .. 'live', lf) end
  end
end

local function slice(t, from) return {unpack(t, from)} end
"""

# ARGV: 3 id, 4 live field, 5 created_at, 6 state, 7.. field/JSON pairs (every field of the record).
CREATE_HANDOVER = (
    _PRELUDE
    + """
local id, lf, state = ARGV[3], ARGV[4], ARGV[6]
if state ~= 'ended' then
  local other = redis.call('HGET', P .. 'live', lf)
  if other then return {'duplicate', redis.call('HGETALL', k('h', other))} end
end
local h = k('h', id)
-- An outbox without its handover awaits collect(): the id is not free until then.
if redis.call('EXISTS', h) == 1 or redis.call('EXISTS', k('outbox', id)) == 1 then return {'exists'} end
local member = string.format('%016x', redis.call('INCR', P .. 'order')) .. ':' .. id
redis.call('HSET', h, '.member', member, unpack(slice(ARGV, 7)))
redis.call('ZADD', P .. 'handovers', ARGV[5], member)
redis.call('ZADD', P .. 'handovers:' .. state, ARGV[5], member)
if state ~= 'ended' then redis.call('HSET', P .. 'live', lf, id) end
refresh(id)
return {'ok'}
"""
)

# ARGV: 3 id, 4 new state or '', 5 new created_at or '', 6.. field/JSON pairs.
UPDATE_HANDOVER = (
    _PRELUDE
    + """
local id = ARGV[3]
local h = k('h', id)
if redis.call('EXISTS', h) == 0 then return {'missing'} end
local conflict = revive_conflict(id, ARGV[4])
if conflict then return {'duplicate', conflict} end
apply(id, ARGV[4], ARGV[5], slice(ARGV, 6))
-- Read before refresh(): with a zero TTL, an ending handover's keys are gone right after it.
local row = redis.call('HGETALL', h)
refresh(id)
return {'ok', row}
"""
)

# ARGV: 3 id, 4 '1' when there is an entry id, 5 entry id, 6 now, 7 new state or '', 8 new created_at or '',
# 9 the updated_at (JSON) the stored one must be, or '', 10 number of pair items, then the field/JSON pairs,
# then (delivery id, type, JSON payload) triples.
RECORD_EVENT = (
    _PRELUDE
    + """
local id = ARGV[3]
local h = k('h', id)
-- Checked first: a record gone is not the one the caller expected either.
if ARGV[9] ~= '' and redis.call('HGET', h, 'updated_at') ~= ARGV[9] then return {'stale'} end
if redis.call('EXISTS', h) == 0 then return {'missing'} end
if ARGV[4] == '1' and redis.call('SISMEMBER', k('entries', id), ARGV[5]) == 1 then return {'processed'} end
local conflict = revive_conflict(id, ARGV[7])
if conflict then return {'duplicate', conflict} end
if ARGV[4] == '1' then redis.call('SADD', k('entries', id), ARGV[5]) end
local n = tonumber(ARGV[10])
apply(id, ARGV[7], ARGV[8], {unpack(ARGV, 11, 10 + n)})
local now, connector = ARGV[6], cjson.decode(redis.call('HGET', h, 'connector'))
for i = 11 + n, #ARGV, 3 do
  local did = ARGV[i]
  local d = k('delivery', did)
  -- Delivery ids are stable: one already in the outbox is not enqueued again.
  if redis.call('EXISTS', d) == 0 then
    local seq = redis.call('INCR', P .. 'seq')
    redis.call('HSET', d, 'seq', seq, 'id', did, 'handover_id', id, 'connector', connector, 'type', ARGV[i + 1],
      'payload', ARGV[i + 2], 'state', 'pending', 'attempts', 0, 'next_attempt_at', now, 'created_at', now)
    redis.call('ZADD', k('outbox', id), seq, did)
    redis.call('ZADD', k('pending', id), seq, did)
    redis.call('ZADD', P .. 'deliveries:pending', seq, did)
  end
end
reschedule(id)
refresh(id)
return {'ok'}
"""
)

# ARGV: 3 id. The live handover's hash, or an empty reply.
FIND_LIVE = (
    _PRELUDE
    + """
local id = redis.call('HGET', P .. 'live', ARGV[3])
if not id then return {} end
return redis.call('HGETALL', k('h', id))
"""
)

# ARGV: 3 handover id, 4 client message id, 5 JSON [miaw id, created_at, extra], 6 the text's digest or '';
# a stored MIAW id and digest are kept.
MARK_MESSAGE_SENT = (
    _PRELUDE
    + """
local id, client = ARGV[3], ARGV[4]
if redis.call('EXISTS', k('h', id)) == 0 then return {'missing'} end
local m = k('messages', id)
redis.call('HSETNX', m, 'm:' .. client, ARGV[5])
if ARGV[6] ~= '' then redis.call('HSETNX', m, 'd:' .. client, ARGV[6]) end
redis.call('HSET', m, 's:' .. client, 'sent')
refresh(id)
return {'ok'}
"""
)

# ARGV: 3 delivery id, 4 outcome (delivered, retry, dead), 5 delivered_at or next_attempt_at or '', 6 error.
# Only a pending delivery changes: a late report must not revive or re-kill a settled one.
SETTLE = (
    _PRELUDE
    + """
local did, outcome = ARGV[3], ARGV[4]
local d = k('delivery', did)
if redis.call('EXISTS', d) == 0 then return 'missing' end
if redis.call('HGET', d, 'state') ~= 'pending' then return 'settled' end
local hid = redis.call('HGET', d, 'handover_id')
redis.call('HINCRBY', d, 'attempts', 1)
if outcome == 'retry' then
  redis.call('HSET', d, 'next_attempt_at', ARGV[5], 'last_error', ARGV[6])
else
  if outcome == 'delivered' then
    redis.call('HSET', d, 'state', 'delivered', 'delivered_at', ARGV[5])
  else
    redis.call('HSET', d, 'state', 'dead', 'last_error', ARGV[6])
  end
  local seq = redis.call('HGET', d, 'seq')
  redis.call('ZREM', P .. 'deliveries:pending', did)
  redis.call('ZADD', P .. 'deliveries:' .. outcome, seq, did)
  redis.call('ZREM', k('pending', hid), did)
end
reschedule(hid)
refresh(hid)
return 'ok'
"""
)

# ARGV: 3.. (delivery id, delivered_at) pairs: SETTLE's 'delivered' for many in one call; a delivery that
# is not pending (settled, or gone) is left alone.
SETTLE_DELIVERED = (
    _PRELUDE
    + """
local touched, order = {}, {}
for i = 3, #ARGV, 2 do
  local did = ARGV[i]
  local d = k('delivery', did)
  if redis.call('HGET', d, 'state') == 'pending' then
    local hid, seq = redis.call('HGET', d, 'handover_id'), redis.call('HGET', d, 'seq')
    redis.call('HINCRBY', d, 'attempts', 1)
    redis.call('HSET', d, 'state', 'delivered', 'delivered_at', ARGV[i + 1])
    redis.call('ZREM', P .. 'deliveries:pending', did)
    redis.call('ZADD', P .. 'deliveries:delivered', seq, did)
    redis.call('ZREM', k('pending', hid), did)
    if not touched[hid] then touched[hid] = true; order[#order + 1] = hid end
  end
end
for _, hid in ipairs(order) do reschedule(hid); refresh(hid) end
return 'ok'
"""
)

# ARGV: 3 delivery id, 4 now. Returns 1 when a dead delivery went back to pending.
REDRIVE = (
    _PRELUDE
    + """
local did = ARGV[3]
local d = k('delivery', did)
if redis.call('HGET', d, 'state') ~= 'dead' then return 0 end
local hid, seq = redis.call('HGET', d, 'handover_id'), redis.call('HGET', d, 'seq')
redis.call('HSET', d, 'state', 'pending', 'next_attempt_at', ARGV[4])
redis.call('ZREM', P .. 'deliveries:dead', did)
redis.call('ZADD', P .. 'deliveries:pending', seq, did)
redis.call('ZADD', k('pending', hid), seq, did)
reschedule(hid)
refresh(hid)
return 1
"""
)

# ARGV: 3 now, 4 limit. Each due handover's head, the lowest seqs first (as the SQLite engine orders them).
DUE_DELIVERIES = (
    _PRELUDE
    + """
local heads = {}
for _, hid in ipairs(redis.call('ZRANGEBYSCORE', P .. 'due', '-inf', ARGV[3])) do
  local head = redis.call('ZRANGE', k('pending', hid), 0, 0, 'WITHSCORES')
  if #head > 0 then heads[#heads + 1] = {tonumber(head[2]), head[1]} end
end
table.sort(heads, function(a, b) return a[1] < b[1] end)
local out = {}
for i = 1, math.min(tonumber(ARGV[4]), #heads) do out[i] = redis.call('HGETALL', k('delivery', heads[i][2])) end
return out
"""
)

_READ_INDEX = """
-- Up to `limit` hashes an index names, in index order, skipping members whose keys have expired
-- (collect() frees their index entries later).
local function read_index(index, reverse, limit, key_of)
  local out, start, batch = {}, 0, math.max(limit, 16)
  while #out < limit do
    local cmd = reverse and 'ZREVRANGE' or 'ZRANGE'
    local members = redis.call(cmd, index, start, start + batch - 1)
    if #members == 0 then break end
    for _, m in ipairs(members) do
      local row = redis.call('HGETALL', key_of(m))
      if #row > 0 then out[#out + 1] = row end
      if #out == limit then break end
    end
    start = start + batch
  end
  return out
end
"""

# ARGV: 3 index name (handovers or handovers:{state}), 4 limit. Newest first.
LIST_HANDOVERS = (
    _PRELUDE
    + _READ_INDEX
    + """
return read_index(P .. ARGV[3], true, tonumber(ARGV[4]), function(m) return k('h', string.sub(m, 18)) end)
"""
)

# ARGV: 3 limit, 4.. states. Up to `limit` of each state, oldest first; the engine merges them by seq.
LIST_DELIVERIES = (
    _PRELUDE
    + _READ_INDEX
    + """
local out = {}
for i = 4, #ARGV do
  local rows = read_index(P .. 'deliveries:' .. ARGV[i], false, tonumber(ARGV[3]),
    function(m) return k('delivery', m) end)
  for _, row in ipairs(rows) do out[#out + 1] = row end
end
return out
"""
)
