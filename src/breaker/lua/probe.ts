/** Lua: the half-open probe of an open breaker: one worker of the fleet at a time (see the headers). */
import { BREAKER_LUA_LIB } from './breaker-lua-lib.ts';

export const TRY_PROBE_LUA = `--[[
  Takes the breaker's probe lease if the breaker is open, its next probe is due and no other
  worker holds the lease. The lease expires by itself if its holder dies.

  Input:
    KEYS[1]   breaker hash
    KEYS[2]   probe lease (string: worker id, PX lease)

    ARGV[1]   now (ms since epoch)
    ARGV[2]   worker id
    ARGV[3]   leaseMs

  Output:
    { "acquired" | "busy" | "not-due" | "not-open", breaker hash as HGETALL }
]]
${BREAKER_LUA_LIB}
local flat = redis.call('HGETALL', KEYS[1])
if breakerKind(KEYS[1]) ~= 'open' then return { 'not-open', flat } end
local nextProbeAt = tonumber(redis.call('HGET', KEYS[1], 'nextProbeAt') or '') or 0
if tonumber(ARGV[1]) < nextProbeAt then return { 'not-due', flat } end
if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then return { 'acquired', flat } end
return { 'busy', flat }
`;

export const PROBE_RESULT_LUA = `--[[
  Applies the outcome of a probe to an open breaker: up closes it (evidence cleared, transition
  recorded); down counts the failed probe and schedules the next one. A breaker that is no
  longer open (isolated or reset meanwhile) is left alone. The caller's lease is released.

  Input:
    KEYS[1]   breaker hash
    KEYS[2]   evidence hash
    KEYS[3]   probe lease
    KEYS[4]   transition log

    ARGV[1]   breaker id
    ARGV[2]   worker id
    ARGV[3]   1 up, 0 down
    ARGV[4]   reason (probe outcome)
    ARGV[5]   now (ms since epoch)
    ARGV[6]   nextDelayMs: wait before the next probe when down
    ARGV[7]   log cap
    ARGV[8]   channel

  Output:
    { "closed" | "still-open" | "not-open", breaker hash as HGETALL, transition JSON or '' }
]]
${BREAKER_LUA_LIB}
local outcome, transition = 'not-open', ''
if breakerKind(KEYS[1]) == 'open' then
  if ARGV[3] == '1' then
    writeClosed(KEYS[1])
    redis.call('DEL', KEYS[2])
    transition = logTransition(KEYS[1], KEYS[4], ARGV[7], ARGV[8], ARGV[1], 'open', 'closed', ARGV[5], ARGV[4], ARGV[2], '')
    outcome = 'closed'
  else
    bumpField(KEYS[1], 'failedProbes')
    redis.call('HSET', KEYS[1], 'nextProbeAt', tonumber(ARGV[5]) + tonumber(ARGV[6]))
    outcome = 'still-open'
  end
end
releaseLease(KEYS[3], ARGV[2])
return { outcome, redis.call('HGETALL', KEYS[1]), transition }
`;
