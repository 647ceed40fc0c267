/**
 * Lua helpers shared by the breaker scripts, prepended to each of them. They write the hash
 * fields listed in ../breaker-state.ts; a kind this code did not write reads as closed there
 * and here alike.
 */
export const BREAKER_LUA_LIB = `
-- A counter field that holds garbage counts as 0 (HINCRBY would fail the whole script).
local function bumpField(key, field)
  local n = (tonumber(redis.call('HGET', key, field) or '') or 0) + 1
  redis.call('HSET', key, field, n)
  return n
end

local function breakerKind(key)
  local kind = redis.call('HGET', key, 'kind')
  if kind == 'open' or kind == 'isolated' then return kind end
  return 'closed'
end

local function writeClosed(key)
  redis.call('HDEL', key, 'since', 'reason', 'nextProbeAt', 'failedProbes', 'actor')
  redis.call('HSET', key, 'kind', 'closed')
end

local function writeOpen(key, since, reason, nextProbeAt)
  redis.call('HDEL', key, 'actor')
  redis.call('HSET', key, 'kind', 'open', 'since', since, 'reason', reason, 'nextProbeAt', nextProbeAt, 'failedProbes', 0)
end

local function writeIsolated(key, since, reason, actor)
  redis.call('HDEL', key, 'nextProbeAt', 'failedProbes')
  redis.call('HSET', key, 'kind', 'isolated', 'since', since, 'reason', reason, 'actor', actor)
end

-- Records a transition: the hash's last + seq, the fleet log (newest first, capped) and the
-- channel (workers re-read the id at once). Returns the transition's JSON.
local function logTransition(key, logKey, logCap, channel, id, from, to, at, reason, worker, actor)
  local t = { id = id, from = from, to = to, at = tonumber(at), reason = reason, worker = worker }
  if actor ~= nil and actor ~= '' then t.actor = actor end
  local json = cjson.encode(t)
  redis.call('HSET', key, 'last', json)
  bumpField(key, 'seq')
  redis.call('LPUSH', logKey, json)
  redis.call('LTRIM', logKey, 0, tonumber(logCap) - 1)
  redis.call('PUBLISH', channel, id)
  return json
end

local function releaseLease(leaseKey, worker)
  if redis.call('GET', leaseKey) == worker then redis.call('DEL', leaseKey) end
end
`;
