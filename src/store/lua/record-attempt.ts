/** Lua: record an attempt that did not deliver (see the header). */
export const RECORD_ATTEMPT_LUA = `--[[
  Records the outcome of a delivery attempt that did not deliver, counts it (field na: failed
  attempts since the last delivery, which the retry backoff grows with) and, if asked, when the
  mailbox is next due. A mailbox that is no longer dirty is not re-marked.

  Input:
    KEYS[1]   mailbox hash
    KEYS[2]   dirty set (zset: mailbox -> due at, ms)

    ARGV[1]   mailbox (dirty set member)
    ARGV[2]   attempt started at (ms since epoch)
    ARGV[3]   last outcome (JSON)
    ARGV[4]   next due at (ms since epoch), or "" to leave the due time (the lease end)
    ARGV[5]   "0": do not count it as a failed attempt (a deferral: nothing was sent); else counted
    ARGV[6]   an ETag the server refused (412) during the attempt, or "": if the hash still holds
              exactly that one, it is removed with its expiry and target (a newer one is kept)

  Output:
    "unknown-mailbox"  no such mailbox hash: nothing written
    "recorded"
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 'unknown-mailbox'
end
redis.call('HSET', KEYS[1], 'la', ARGV[2], 'lo', ARGV[3])
if ARGV[6] ~= '' and redis.call('HGET', KEYS[1], 'etag') == ARGV[6] then
  redis.call('HDEL', KEYS[1], 'etag', 'exp', 'et')
end
if ARGV[5] ~= '0' then
  redis.call('HINCRBY', KEYS[1], 'na', 1)
end
if ARGV[4] ~= '' then
  redis.call('ZADD', KEYS[2], 'XX', ARGV[4], ARGV[1])
end
return 'recorded'
`;
