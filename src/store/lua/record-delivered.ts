/** Lua: record a successful delivery and clear the dirty mark if nothing newer arrived (see the header). */
export const RECORD_DELIVERED_LUA = `--[[
  Records that a version of a mailbox's state was delivered. The dirty mark is removed only
  when that version is still the desired one; if a newer state was accepted meanwhile, the
  mailbox stays dirty and is due now. A recorded delivery resets the failed-attempt count (na).

  Input:
    KEYS[1]   mailbox hash
    KEYS[2]   dirty set (zset: mailbox -> due at, ms)

    ARGV[1]   mailbox (dirty set member)
    ARGV[2]   delivered version (decimal integer)
    ARGV[3]   delivered summary (JSON)
    ARGV[4]   delivered at (ms since epoch)
    ARGV[5]   attempt started at (ms since epoch)
    ARGV[6]   last outcome (JSON)
    ARGV[7]   etag, or "" for none
    ARGV[8]   etag expires at (ms since epoch), or ""
    ARGV[9]   now (ms since epoch): due time if still dirty

  Output:
    "unknown-version"  no desired version >= the delivered one exists: nothing written
    "superseded"       a newer version was already recorded as delivered, or the same version by a
                       delivery that completed later (two deliveries of one mailbox overlapped
                       after a lease ran out: the later PUBLISH holds the ETag the server keeps):
                       nothing written
    "clean"            delivered == desired: dirty mark removed
    "still-dirty"      delivered < desired: mailbox due now
]]
local desired = tonumber(redis.call('HGET', KEYS[1], 'dv') or '')
local version = tonumber(ARGV[2])
if desired == nil or version > desired then
  return 'unknown-version'
end
local previous = tonumber(redis.call('HGET', KEYS[1], 'xv') or '')
if previous ~= nil and version < previous then
  return 'superseded'
end
if previous ~= nil and version == previous then
  local previousAt = tonumber(redis.call('HGET', KEYS[1], 'xat') or '')
  if previousAt ~= nil and tonumber(ARGV[4]) < previousAt then
    return 'superseded'
  end
end

redis.call('HSET', KEYS[1], 'xv', ARGV[2], 'xs', ARGV[3], 'xat', ARGV[4], 'la', ARGV[5], 'lo', ARGV[6])
redis.call('HDEL', KEYS[1], 'na')
if ARGV[7] ~= '' then
  redis.call('HSET', KEYS[1], 'etag', ARGV[7], 'exp', ARGV[8])
else
  redis.call('HDEL', KEYS[1], 'etag', 'exp')
end

if version == desired then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 'clean'
end
redis.call('ZADD', KEYS[2], ARGV[9], ARGV[1])
return 'still-dirty'
`;
