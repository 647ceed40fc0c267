/** Lua: lease the mailboxes that are due for delivery, with what delivering them needs (see the header). */
export const TAKE_DIRTY_LUA = `--[[
  Returns up to a limit of dirty mailboxes whose due time has come, oldest first, and pushes
  their due time to the end of a lease. The lease is a visibility timeout, not a lock: if the
  taker dies, the mailbox is due again when the lease ends; a delivery's record call
  reschedules or clears it. With each mailbox come the fields of its hash that a delivery needs,
  so the deliverer reads nothing more before sending.

  Input:
    KEYS[1]   dirty set (zset: mailbox -> due at, ms)
    ARGV[1]   now (ms since epoch)
    ARGV[2]   lease end (ms since epoch)
    ARGV[3]   limit
    ARGV[4]   mailbox hash key prefix (the hash of mailbox m is ARGV[4] .. m; same hash tag as KEYS[1])

  Output:
    flat array, 7 entries per mailbox: mailbox, desired version (dv), desired state (ds),
    failed attempts (na), the publication's entity tag (etag), its expiry (exp) and the target
    that granted it (et); a field the hash lacks is false (nil to the caller)
]]
local due = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, ARGV[3])
local out = {}
-- One ZADD per 1,000 members (Lua's unpack has a stack limit of about 8,000 values).
local members = {}
for i, mailbox in ipairs(due) do
  members[#members + 1] = ARGV[2]
  members[#members + 1] = mailbox
  if #members == 2000 or i == #due then
    redis.call('ZADD', KEYS[1], 'XX', unpack(members))
    members = {}
  end
  local f = redis.call('HMGET', ARGV[4] .. mailbox, 'dv', 'ds', 'na', 'etag', 'exp', 'et')
  local at = 7 * (i - 1)
  out[at + 1] = mailbox
  for k = 1, 6 do
    out[at + 1 + k] = f[k]
  end
end
return out
`;
