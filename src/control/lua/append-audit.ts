/** Lua: append one audit entry to the capped list (see the header). */
import { CONTROL_LUA_LIB } from './control-lua-lib.ts';

export const APPEND_AUDIT_LUA = `--[[
  Records an action done elsewhere (breaker isolate/reset, resync) in the audit list.

  Input:
    KEYS[1]   audit list (newest first)
    ARGV[1]   audit entry JSON
    ARGV[2]   audit cap

  Output:
    1
]]
${CONTROL_LUA_LIB}
appendAudit(KEYS[1], ARGV[2], ARGV[1])
return 1
`;
