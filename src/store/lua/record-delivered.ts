/** Lua: record successful deliveries and clear their dirty marks if nothing newer arrived (see the header). */
export const RECORD_DELIVERED_LUA = `--[[
  Records, for each of a batch of mailboxes, that a version of its state was delivered. The dirty
  mark is removed only when that version is still the desired one; if a newer state was accepted
  meanwhile, the mailbox stays dirty and is due now. A recorded delivery resets the
  failed-attempt count (na). The etag, its expiry and the target that granted it are written
  with the delivered state, or removed when the delivery brought none: the next delivery sends
  SIP-If-Match with exactly what this one was granted. Each mailbox is recorded on its own: one
  result per mailbox. Fields already absent are not deleted again (an HDEL is a write).

  Input (n mailboxes):
    KEYS[1]     dirty set (zset: mailbox -> due at, ms)
    KEYS[1+i]   mailbox hash of the i-th mailbox, i = 1..n

    ARGV, 10 per mailbox, the i-th group starting at ARGV[10*(i-1)+1]:
      +0  mailbox (dirty set member)
      +1  delivered version (decimal integer)
      +2  delivered summary (JSON)
      +3  delivered at (ms since epoch)
      +4  attempt started at (ms since epoch)
      +5  last outcome (JSON)
      +6  etag, or "" for none
      +7  etag expires at (ms since epoch), or ""
      +8  now (ms since epoch): due time if still dirty
      +9  the target that granted the etag (the route's target URI), or "" when not known

  Output: one per mailbox, in order:
    "unknown-version"  no desired version >= the delivered one exists: nothing written
    "superseded"       a newer version was already recorded as delivered, or the same version by a
                       delivery that completed later (two deliveries of one mailbox overlapped
                       after a lease ran out: the later PUBLISH holds the ETag the server keeps):
                       nothing written
    "clean"            delivered == desired: dirty mark removed
    "still-dirty"      delivered < desired: mailbox due now
]]
local dirty = KEYS[1]

local function record(hash, a)
  local f = redis.call('HMGET', hash, 'dv', 'xv', 'xat', 'na', 'etag', 'exp', 'et')
  local desired = tonumber(f[1] or '')
  local version = tonumber(ARGV[a + 1])
  if desired == nil or version > desired then
    return 'unknown-version'
  end
  local previous = tonumber(f[2] or '')
  if previous ~= nil and version < previous then
    return 'superseded'
  end
  if previous ~= nil and version == previous then
    local previousAt = tonumber(f[3] or '')
    if previousAt ~= nil and tonumber(ARGV[a + 3]) < previousAt then
      return 'superseded'
    end
  end

  local fields = { 'xv', ARGV[a + 1], 'xs', ARGV[a + 2], 'xat', ARGV[a + 3], 'la', ARGV[a + 4], 'lo', ARGV[a + 5] }
  local gone = {}
  if f[4] then
    gone[#gone + 1] = 'na'
  end
  -- etag, exp and et: written when given; otherwise deleted if present.
  local given = { ARGV[a + 6], ARGV[a + 7], ARGV[a + 9] }
  if given[1] == '' then
    given = { '', '', '' }
  end
  for k, field in ipairs({ 'etag', 'exp', 'et' }) do
    if given[k] ~= '' then
      fields[#fields + 1] = field
      fields[#fields + 1] = given[k]
    elseif f[4 + k] then
      gone[#gone + 1] = field
    end
  end
  redis.call('HSET', hash, unpack(fields))
  if #gone > 0 then
    redis.call('HDEL', hash, unpack(gone))
  end

  if version == desired then
    redis.call('ZREM', dirty, ARGV[a])
    return 'clean'
  end
  redis.call('ZADD', dirty, ARGV[a + 8], ARGV[a])
  return 'still-dirty'
end

local results = {}
for i = 2, #KEYS do
  results[i - 1] = record(KEYS[i], 10 * (i - 2) + 1)
end
return results
`;
