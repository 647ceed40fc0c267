/** Lua: compare-and-set of a target's controller state (see the header). */
export const SET_STATE_LUA = `--[[
  Writes a target's controller state and rate if its version is still the one the caller read,
  so a decision made from stale state (a hold or slow start happened meanwhile) is dropped.

  Input:
    KEYS[1]   rate hash (ver, state, rate)
    KEYS[2]   set of every target with rate state
    ARGV[1]   version read (0 for a target without state)
    ARGV[2]   state JSON
    ARGV[3]   rate (per second)
    ARGV[4]   target id

  Output:
    1 written (version incremented), 0 the version moved on (nothing written)
]]
if (redis.call('HGET', KEYS[1], 'ver') or '0') ~= ARGV[1] then return 0 end
redis.call('HINCRBY', KEYS[1], 'ver', 1)
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'rate', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
return 1
`;
