/** Lua: read many breakers in one round trip (see the header). */
export const READ_LUA = `--[[
  Reads breaker hashes (state, seq, last transition) at one instant.

  Input:
    KEYS[i]   breaker hash of id i

  Output:
    array: HGETALL of KEYS[i] at position i (empty for an unknown breaker)
]]
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('HGETALL', key) end
return out
`;
