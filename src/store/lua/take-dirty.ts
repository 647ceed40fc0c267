/** Lua: lease the mailboxes that are due for delivery (see the header). */
export const TAKE_DIRTY_LUA = `--[[
  Returns up to a limit of dirty mailboxes whose due time has come, oldest first, and pushes
  their due time to the end of a lease. The lease is a visibility timeout, not a lock: if the
  taker dies, the mailbox is due again when the lease ends; a delivery's record call
  reschedules or clears it.

  Input:
    KEYS[1]   dirty set (zset: mailbox -> due at, ms)
    ARGV[1]   now (ms since epoch)
    ARGV[2]   lease end (ms since epoch)
    ARGV[3]   limit

  Output:
    array of mailboxes
]]
local due = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, ARGV[3])
for _, mailbox in ipairs(due) do
  redis.call('ZADD', KEYS[1], 'XX', ARGV[2], mailbox)
end
return due
`;
