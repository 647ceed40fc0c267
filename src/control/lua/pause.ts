/** Lua: pause a scope, audited and announced (see the header). */
import { CONTROL_LUA_LIB } from './control-lua-lib.ts';

export const PAUSE_LUA = `--[[
  Sets the pause of one scope (global or a target), replacing an earlier one of the same scope,
  appends the audit entry and announces the change, all in one step: nothing half-written.

  Input:
    KEYS[1]   pauses hash (scope -> pause JSON)
    KEYS[2]   audit list (newest first)

    ARGV[1]   scope ("global" or the target string)
    ARGV[2]   pause JSON (PauseState)
    ARGV[3]   audit entry JSON
    ARGV[4]   audit cap (entries kept)
    ARGV[5]   channel

  Output:
    1
]]
${CONTROL_LUA_LIB}
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
appendAudit(KEYS[2], ARGV[4], ARGV[3])
redis.call('PUBLISH', ARGV[5], 'pause')
return 1
`;
