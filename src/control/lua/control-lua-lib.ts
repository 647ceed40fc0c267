/** Lua shared by the control scripts: the capped audit list and the end of an expired pause. */
export const CONTROL_LUA_LIB = `
-- Pushes one audit entry (JSON) onto the list, newest first, and trims it to cap entries.
local function appendAudit(listKey, cap, json)
  redis.call('LPUSH', listKey, json)
  redis.call('LTRIM', listKey, 0, tonumber(cap) - 1)
end

-- The automatic end (ms) of a stored pause, or nil (until resumed, or unreadable: kept, never expired).
local function pauseUntil(json)
  local ok, pause = pcall(cjson.decode, json)
  if not ok or type(pause) ~= 'table' then return nil end
  return tonumber(pause['until'])
end

-- Removes a pause past its end and audits the expiry (actor "mwi", via "expiry").
local function expirePause(hashKey, listKey, cap, scope, json, now)
  redis.call('HDEL', hashKey, scope)
  local ok, pause = pcall(cjson.decode, json)
  local by = ok and type(pause) == 'table' and tostring(pause['actor']) or '?'
  local why = ok and type(pause) == 'table' and tostring(pause['reason']) or '?'
  appendAudit(listKey, cap, cjson.encode({
    at = tonumber(now), actor = 'mwi', action = 'pause-expire', subject = scope,
    reason = 'ended by itself (paused by ' .. by .. ': ' .. why .. ')', via = 'expiry',
  }))
end
`;
