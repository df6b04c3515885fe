"""The Redis engine's paged lists: Lua scripts and the cursors they take (key layout: see redis_scripts).

Keyset paging, as on SQLite: a cursor is the sort key of the last item returned (a handover's index score
and member, a delivery's seq), so items added or expired meanwhile never make a page skip or repeat one
that stays. Members whose keys have expired are skipped (collect() frees their index entries later).
Scripts take the engine's calling convention: ARGV[1] prefix, ARGV[2] expiry TTL (unused here), then their
own arguments; each returns up to limit + 1 items, the extra one saying that there is a next page.
"""

from __future__ import annotations

import re

from handover_miaw.store.cursors import connector_cursor, finite_decimal, seq_cursor

# The cursors are re-exported: the engine reads every cursor from here.
__all__ = ["DELIVERIES_AFTER", "PAGE_DELIVERIES", "PAGE_HANDOVERS", "connector_cursor", "handover_cursor", "seq_cursor"]

# ARGV: 3 handover id, 4 after seq, 5 limit. A handover's deliveries past a seq, in order (SSE replay).
DELIVERIES_AFTER = """
local P, out = ARGV[1], {}
local ids = redis.call('ZRANGEBYSCORE', P .. 'outbox:' .. ARGV[3], '(' .. ARGV[4], '+inf', 'LIMIT', 0, ARGV[5])
for _, did in ipairs(ids) do
  local row = redis.call('HGETALL', P .. 'delivery:' .. did)
  if #row > 0 then out[#out + 1] = row end
end
return out
"""

# ARGV: 3 index name, 4 limit, 5 cursor score or '', 6 cursor member. Newest first: {score, member, hash}.
PAGE_HANDOVERS = """
local P = ARGV[1]
local index, want = P .. ARGV[3], tonumber(ARGV[4]) + 1
local max, cs, cm = '+inf', nil, ARGV[6]
if ARGV[5] ~= '' then max, cs = ARGV[5], tonumber(ARGV[5]) end
local out, offset, batch = {}, 0, math.max(want, 16)
while #out < want do
  local got = redis.call('ZREVRANGEBYSCORE', index, max, '-inf', 'WITHSCORES', 'LIMIT', offset, batch)
  if #got == 0 then break end
  for i = 1, #got, 2 do
    local m, s = got[i], got[i + 1]
    -- Equal scores come in reverse member order: past the cursor means a smaller member.
    if cs == nil or tonumber(s) < cs or m < cm then
      local row = redis.call('HGETALL', P .. 'h:' .. string.sub(m, 18))
      if #row > 0 then out[#out + 1] = {s, m, row} end
      if #out == want then break end
    end
  end
  offset = offset + batch
end
return out
"""

# ARGV: 3 limit, 4 after seq, 5.. states. Up to limit + 1 delivery hashes of each state with seq > after,
# oldest first; the engine merges them by seq.
PAGE_DELIVERIES = """
local P = ARGV[1]
local want = tonumber(ARGV[3]) + 1
local out = {}
for i = 5, #ARGV do
  local index, n, offset, batch = P .. 'deliveries:' .. ARGV[i], 0, 0, math.max(want, 16)
  while n < want do
    local ids = redis.call('ZRANGEBYSCORE', index, '(' .. ARGV[4], '+inf', 'LIMIT', offset, batch)
    if #ids == 0 then break end
    for _, did in ipairs(ids) do
      local row = redis.call('HGETALL', P .. 'delivery:' .. did)
      if #row > 0 then
        out[#out + 1] = row
        n = n + 1
      end
      if n == want then break end
    end
    offset = offset + batch
  end
end
return out
"""

_MEMBER = re.compile(r"[0-9a-f]{16}:.+", re.DOTALL)


def handover_cursor(after: str | None) -> tuple[str, str]:
    """The (score, member) a handover cursor names, ('', '') for the first page; ValueError when it is not
    one (checked here: a script must not fail on what a client sent)."""
    if after is None:
        return "", ""
    score, _, member = after.partition(":")
    if not finite_decimal(score) or not _MEMBER.fullmatch(member):
        raise ValueError("not a handover cursor")
    return score, member
