/** Lua: hold a target fleet-wide until a time (see the header). */
export const HOLD_LUA = `--[[
  Nothing is admitted for a target before the hold ends: the later of the existing hold and the
  new one wins (a shorter Retry-After never cuts a longer hold short); the reason follows the
  hold that wins.

  Input:
    KEYS[1]   rate hash (holdUntil, holdReason)
    KEYS[2]   set of every target with rate state
    ARGV[1]   target id
    ARGV[2]   hold until (ms since epoch)
    ARGV[3]   reason

  Output:
    the hold in force (ms since epoch)
]]
local current = tonumber(redis.call('HGET', KEYS[1], 'holdUntil')) or 0
local untilMs = tonumber(ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
if untilMs <= current then return current end
redis.call('HSET', KEYS[1], 'holdUntil', ARGV[2], 'holdReason', ARGV[3])
return untilMs
`;
