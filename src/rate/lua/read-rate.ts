/** Lua: read a target's pacing state and fleet in-flight count (see the header). */
export const READ_RATE_LUA = `--[[
  Reads one target's controller state and the sum of the in-flight counts of live workers,
  in one atomic step.

  Input:
    KEYS[1]   rate hash
    KEYS[2]   in-flight hash (worker -> "count:updatedAtMs")
    ARGV[1]   now (ms since epoch)
    ARGV[2]   liveness of an in-flight count (ms)

  Output:
    {} for an unknown target, else
    { rate, version, state JSON or "", holdUntil, holdReason, lastAdmPerSec, lastLatMs, fleet in-flight } (strings)
]]
local f = redis.call('HMGET', KEYS[1], 'rate', 'ver', 'state', 'holdUntil', 'holdReason', 'lastAdmPerSec', 'lastLatMs')
if not f[1] then return {} end
local oldest = tonumber(ARGV[1]) - tonumber(ARGV[2])
local inFlight = 0
local entries = redis.call('HGETALL', KEYS[2])
for i = 2, #entries, 2 do
  local count, at = string.match(entries[i], '^(%d+):(%d+)$')
  if count and tonumber(at) >= oldest then inFlight = inFlight + tonumber(count) end
end
return { f[1], f[2] or '0', f[3] or '', f[4] or '0', f[5] or '', f[6] or '0', f[7] or '0', tostring(inFlight) }
`;
