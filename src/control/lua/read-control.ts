/** Lua: read every pause and the drain flag, ending expired pauses (see the header). */
import { CONTROL_LUA_LIB } from './control-lua-lib.ts';

export const READ_CONTROL_LUA = `--[[
  What every worker polls: the pauses in force and the drain flag, read at one instant. Pauses
  past their end are removed here (lazily: no timer anywhere), each audited once as an expiry
  by whichever process read it first, and the removal is announced.

  Input:
    KEYS[1]   pauses hash (scope -> pause JSON)
    KEYS[2]   drain string
    KEYS[3]   audit list (newest first)

    ARGV[1]   now (ms since epoch)
    ARGV[2]   audit cap
    ARGV[3]   channel

  Output:
    { pauses in force as HGETALL [scope, JSON, ...], drain JSON or "" }
]]
${CONTROL_LUA_LIB}
local now = tonumber(ARGV[1])
local flat = redis.call('HGETALL', KEYS[1])
local kept = {}
local expired = 0
for i = 1, #flat, 2 do
  local untilMs = pauseUntil(flat[i + 1])
  if untilMs ~= nil and untilMs <= now then
    expirePause(KEYS[1], KEYS[3], ARGV[2], flat[i], flat[i + 1], ARGV[1])
    expired = expired + 1
  else
    kept[#kept + 1] = flat[i]
    kept[#kept + 1] = flat[i + 1]
  end
end
if expired > 0 then redis.call('PUBLISH', ARGV[3], 'pause-expire') end
return { kept, redis.call('GET', KEYS[2]) or '' }
`;
