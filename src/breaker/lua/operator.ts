/** Lua: operator actions on a breaker, isolate and reset (see the headers). */
import { BREAKER_LUA_LIB } from './breaker-lua-lib.ts';

export const ISOLATE_LUA = `--[[
  Holds a breaker open (no traffic, no probes) until a reset; any running probe's lease is
  dropped so its result is ignored. An id not seen before is allowed (isolate ahead of a
  maintenance window) and joins the set of breakers.

  Input:
    KEYS[1]   breaker hash
    KEYS[2]   probe lease
    KEYS[3]   set of every breaker id
    KEYS[4]   transition log

    ARGV[1]   breaker id
    ARGV[2]   actor (operator)
    ARGV[3]   reason
    ARGV[4]   now (ms since epoch)
    ARGV[5]   worker id
    ARGV[6]   log cap
    ARGV[7]   channel

  Output:
    { breaker hash as HGETALL, transition JSON }
]]
${BREAKER_LUA_LIB}
local from = breakerKind(KEYS[1])
writeIsolated(KEYS[1], ARGV[4], ARGV[3], ARGV[2])
redis.call('DEL', KEYS[2])
redis.call('SADD', KEYS[3], ARGV[1])
local transition = logTransition(KEYS[1], KEYS[4], ARGV[6], ARGV[7], ARGV[1], from, 'isolated', ARGV[4], ARGV[3], ARGV[5], ARGV[2])
return { redis.call('HGETALL', KEYS[1]), transition }
`;

export const RESET_LUA = `--[[
  Closes a breaker now, whatever its state (open, isolated, or closed: the evidence window is
  cleared either way), and drops any probe lease.

  Input:
    KEYS[1]   breaker hash
    KEYS[2]   evidence hash
    KEYS[3]   probe lease
    KEYS[4]   set of every breaker id
    KEYS[5]   transition log

    ARGV[1..7] as in the isolate script

  Output:
    { "not-found" } when the id is neither in the set nor has a hash (nothing written), else
    { "reset", breaker hash as HGETALL, transition JSON }
]]
${BREAKER_LUA_LIB}
if redis.call('SISMEMBER', KEYS[4], ARGV[1]) == 0 and redis.call('EXISTS', KEYS[1]) == 0 then
  return { 'not-found' }
end
local from = breakerKind(KEYS[1])
writeClosed(KEYS[1])
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('SADD', KEYS[4], ARGV[1])
local transition = logTransition(KEYS[1], KEYS[5], ARGV[6], ARGV[7], ARGV[1], from, 'closed', ARGV[4], ARGV[3], ARGV[5], ARGV[2])
return { 'reset', redis.call('HGETALL', KEYS[1]), transition }
`;
