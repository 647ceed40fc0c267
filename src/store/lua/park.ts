/** Lua: park a mailbox after a permanent failure, unless a newer state arrived (see the header). */
export const PARK_LUA = `--[[
  Records a permanent failure for a mailbox and takes it out of the dirty set, so it is not
  retried until a newer update arrives (apply-updates marks it dirty again). If a newer desired
  state was accepted while the attempt ran, that state still has to go out: the mailbox stays
  dirty and is due now. A dirty entry without a desired state (the hash was removed behind the
  store's back) is dropped without writing anything.

  Input:
    KEYS[1]   mailbox hash
    KEYS[2]   dirty set (zset: mailbox -> due at, ms)

    ARGV[1]   mailbox (dirty set member)
    ARGV[2]   version the attempt tried to deliver (decimal integer)
    ARGV[3]   attempt started at (ms since epoch)
    ARGV[4]   last outcome (JSON)
    ARGV[5]   now (ms since epoch): due time if still dirty
    ARGV[6]   an ETag the server refused (412) during the attempt, or "": removed as in record-attempt

  Output:
    "unknown-mailbox"  no desired state: dirty entry removed, nothing written
    "parked"           desired version <= the attempted one: outcome recorded, dirty entry removed
    "still-dirty"      desired version > the attempted one: outcome recorded, mailbox due now
]]
local desired = tonumber(redis.call('HGET', KEYS[1], 'dv') or '')
if desired == nil then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 'unknown-mailbox'
end

redis.call('HSET', KEYS[1], 'la', ARGV[3], 'lo', ARGV[4])
if ARGV[6] ~= '' and redis.call('HGET', KEYS[1], 'etag') == ARGV[6] then
  redis.call('HDEL', KEYS[1], 'etag', 'exp', 'et')
end
redis.call('HINCRBY', KEYS[1], 'na', 1)
if desired <= tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 'parked'
end
redis.call('ZADD', KEYS[2], 'XX', ARGV[5], ARGV[1])
return 'still-dirty'
`;
