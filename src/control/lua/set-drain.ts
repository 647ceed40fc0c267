/** Lua: turn drain on or off, audited and announced (see the header). */
import { CONTROL_LUA_LIB } from './control-lua-lib.ts';

export const SET_DRAIN_LUA = `--[[
  Drain on (replacing an earlier drain's reason and actor) or off. Off while already off writes
  nothing. The audit entry is written in the same step as the change.

  Input:
    KEYS[1]   drain string (DrainState JSON; absent: off)
    KEYS[2]   audit list (newest first)

    ARGV[1]   "1" on, "0" off
    ARGV[2]   drain JSON (on), "" (off)
    ARGV[3]   audit entry JSON
    ARGV[4]   audit cap
    ARGV[5]   channel

  Output:
    1 changed, 0 was already off
]]
${CONTROL_LUA_LIB}
if ARGV[1] == '1' then
  redis.call('SET', KEYS[1], ARGV[2])
  appendAudit(KEYS[2], ARGV[4], ARGV[3])
  redis.call('PUBLISH', ARGV[5], 'drain')
  return 1
end
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
appendAudit(KEYS[2], ARGV[4], ARGV[3])
redis.call('PUBLISH', ARGV[5], 'undrain')
return 1
`;
