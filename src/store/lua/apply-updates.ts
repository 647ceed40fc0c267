/** Lua: accept a batch of desired mailbox states (see the header). */
export const APPLY_UPDATES_LUA = `--[[
  Stores each update whose version is strictly greater than the mailbox's desired version and
  marks that mailbox dirty. All or nothing: every read and check runs before the first write,
  and a check failure returns an error with nothing written. Updates are taken in order, so a
  later update of the same mailbox in the batch is compared with an earlier one.

  Input:
    KEYS[1]        dirty set (zset: mailbox -> due at, ms)
    KEYS[2]        mailbox index (zset, every score 0: the sweep pages through it in lexical order)
    KEYS[2 + i]    hash of the mailbox of update i (i = 1..n)

    ARGV[1]        accepted at (ms since epoch)
    ARGV[3i - 1]   version of update i (decimal integer, <= 2^53 - 1)
    ARGV[3i]       mailbox of update i (dirty set member)
    ARGV[3i + 1]   desired state of update i (JSON { summary, route })

  Output:
    array of n integers: 1 applied, 0 stale (equal or older version; nothing changed)
    error "MWI_CORRUPT ..." when a key holds data this store did not write (nothing written)

  A newly dirty mailbox is due at once; one already dirty keeps its due time (ZADD NX), so an
  update never pulls a mailbox out of a running delivery's lease or a scheduled retry. Every
  applied mailbox is (re)added to the index (ZADD NX: O(log n), and an index lost by accident
  heals with the next update of each mailbox).
]]
local n = #KEYS - 2
local acceptedAt = ARGV[1]

local dirtyType = redis.call('TYPE', KEYS[1])['ok']
if dirtyType ~= 'zset' and dirtyType ~= 'none' then
  return redis.error_reply('MWI_CORRUPT dirty set is a ' .. dirtyType)
end
local indexType = redis.call('TYPE', KEYS[2])['ok']
if indexType ~= 'zset' and indexType ~= 'none' then
  return redis.error_reply('MWI_CORRUPT mailbox index is a ' .. indexType)
end

local latest = {}
local apply = {}
for i = 1, n do
  local key = KEYS[i + 2]
  local current = latest[key]
  if current == nil then
    local stored = redis.call('HGET', key, 'dv')
    if stored then
      current = tonumber(stored)
      if current == nil then
        return redis.error_reply('MWI_CORRUPT desired version of ' .. key)
      end
    else
      current = -1
    end
  end
  local version = tonumber(ARGV[3 * i - 1])
  if version > current then
    apply[i] = 1
    latest[key] = version
  else
    apply[i] = 0
    latest[key] = current
  end
end

for i = 1, n do
  if apply[i] == 1 then
    redis.call('HSET', KEYS[i + 2], 'dv', ARGV[3 * i - 1], 'ds', ARGV[3 * i + 1], 'dat', acceptedAt)
    redis.call('ZADD', KEYS[1], 'NX', acceptedAt, ARGV[3 * i])
    redis.call('ZADD', KEYS[2], 'NX', 0, ARGV[3 * i])
  end
end
return apply
`;
