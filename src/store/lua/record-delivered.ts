/** Lua: record successful deliveries and clear their dirty marks if nothing newer arrived (see the header). */
export const RECORD_DELIVERED_LUA = `--[[
  Records, for each of a batch of mailboxes, that a version of its state was delivered. The dirty
  mark is removed only when that version is still the desired one; if a newer state was accepted
  meanwhile, the mailbox stays dirty and is due now. A recorded delivery resets the
  failed-attempt count (na). The etag, its expiry and the target that granted it are written
  with the delivered state, or removed when the delivery brought none: the next delivery sends
  SIP-If-Match with exactly what this one was granted. Each mailbox is recorded on its own: one
  result per mailbox; the dirty marks of those recorded clean are removed together at the end.
  Fields already absent are not deleted again (an HDEL is a write).

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
-- Mailboxes recorded clean, removed from the dirty set by one ZREM at the end instead of one call
-- each. Keyed by member: a later record of the same mailbox in this call that leaves it dirty
-- takes it out again.
local clean = {}

local function record(hash, a)
  local f = redis.call('HMGET', hash, 'dv', 'xv', 'xat', 'na')
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

  local etag, exp, et = ARGV[a + 6], ARGV[a + 7], ARGV[a + 9]
  if etag ~= '' and exp ~= '' and et ~= '' then
    -- The usual case: a 2xx with its ETag, from a known target. One HSET, nothing to look up.
    redis.call('HSET', hash, 'xv', ARGV[a + 1], 'xs', ARGV[a + 2], 'xat', ARGV[a + 3], 'la', ARGV[a + 4], 'lo', ARGV[a + 5], 'etag', etag, 'exp', exp, 'et', et)
    if f[4] then
      redis.call('HDEL', hash, 'na')
    end
  else
    -- etag, exp and et: written when given; otherwise deleted if present (no ETag: none of them).
    if etag == '' then
      exp, et = '', ''
    end
    local fields = { 'xv', ARGV[a + 1], 'xs', ARGV[a + 2], 'xat', ARGV[a + 3], 'la', ARGV[a + 4], 'lo', ARGV[a + 5] }
    local gone = {}
    if f[4] then
      gone[#gone + 1] = 'na'
    end
    local present = redis.call('HMGET', hash, 'etag', 'exp', 'et')
    local given = { etag, exp, et }
    for k, field in ipairs({ 'etag', 'exp', 'et' }) do
      if given[k] ~= '' then
        fields[#fields + 1] = field
        fields[#fields + 1] = given[k]
      elseif present[k] then
        gone[#gone + 1] = field
      end
    end
    redis.call('HSET', hash, unpack(fields))
    if #gone > 0 then
      redis.call('HDEL', hash, unpack(gone))
    end
  end

  if version == desired then
    clean[ARGV[a]] = true
    return 'clean'
  end
  clean[ARGV[a]] = nil
  redis.call('ZADD', dirty, ARGV[a + 8], ARGV[a])
  return 'still-dirty'
end

local results = {}
for i = 2, #KEYS do
  results[i - 1] = record(KEYS[i], 10 * (i - 2) + 1)
end
-- One ZREM per 1,000 members (Lua's unpack has a stack limit of about 8,000 values).
local members = {}
for member in pairs(clean) do
  members[#members + 1] = member
  if #members == 1000 then
    redis.call('ZREM', dirty, unpack(members))
    members = {}
  end
end
if #members > 0 then
  redis.call('ZREM', dirty, unpack(members))
end
return results
`;
