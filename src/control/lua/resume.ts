/** Lua: end the pause of a scope, audited and announced (see the header). */
import { CONTROL_LUA_LIB } from './control-lua-lib.ts';

export const RESUME_LUA = `--[[
  Ends the pause of one scope. No pause: nothing written. A pause already past its end was not
  in force: it is removed and audited as an expiry, not as this resume.

  Input:
    KEYS[1]   pauses hash (scope -> pause JSON)
    KEYS[2]   audit list (newest first)

    ARGV[1]   scope
    ARGV[2]   now (ms since epoch)
    ARGV[3]   audit entry JSON of the resume
    ARGV[4]   audit cap
    ARGV[5]   channel

  Output:
    the ended pause's JSON, or "" when no pause of that scope was in force
]]
${CONTROL_LUA_LIB}
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if not stored then return '' end
local untilMs = pauseUntil(stored)
if untilMs ~= nil and untilMs <= tonumber(ARGV[2]) then
  expirePause(KEYS[1], KEYS[2], ARGV[4], ARGV[1], stored, ARGV[2])
  redis.call('PUBLISH', ARGV[5], 'pause-expire')
  return ''
end
redis.call('HDEL', KEYS[1], ARGV[1])
appendAudit(KEYS[2], ARGV[4], ARGV[3])
redis.call('PUBLISH', ARGV[5], 'resume')
return stored
`;
