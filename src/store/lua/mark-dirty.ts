/** Lua: mark mailboxes due for delivery of their stored desired state (see the header). */
export const MARK_DIRTY_LUA = `--[[
  Marks mailboxes dirty so the delivery queue sends their stored desired state again (the sweep
  after a lost mark or before a publication lapses, resync). A mailbox already dirty keeps its
  due time (ZADD NX): a running delivery's lease or a scheduled retry is never cut short, so a
  mailbox never gets two deliveries at once. A mailbox without a desired state is left alone.

  Input:
    KEYS[1]       dirty set (zset: mailbox -> due at, ms)
    KEYS[1 + i]   hash of mailbox i
    ARGV[1]       due at (ms since epoch)
    ARGV[1 + i]   mailbox i (dirty set member)

  Output:
    array, per mailbox in input order: 1 marked, 0 already dirty, -1 no desired state
]]
local out = {}
for i = 1, #KEYS - 1 do
  if redis.call('HEXISTS', KEYS[i + 1], 'dv') == 0 then
    out[i] = -1
  else
    out[i] = redis.call('ZADD', KEYS[1], 'NX', ARGV[1], ARGV[i + 1])
  end
end
return out
`;
