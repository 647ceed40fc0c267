/** Lua: every breaker of the fleet with its state and window counts (see the header). */
export const LIST_LUA = `--[[
  Reads every breaker in the set: its hash and the outcomes in its evidence window now.
  Read-only. The breaker and evidence keys are built from their prefixes (they share the
  set's {hash tag}, so this also works on Redis Cluster).

  Input:
    KEYS[1]   set of every breaker id
    ARGV[1]   breaker hash key prefix (the key is prefix .. id)
    ARGV[2]   evidence hash key prefix
    ARGV[3]   now (ms since epoch)
    ARGV[4]   windowMs

  Output:
    array of { id, breaker hash as HGETALL, ok in window, failures in window }
]]
local oldest = math.floor(tonumber(ARGV[3]) / 1000) - math.ceil(tonumber(ARGV[4]) / 1000)
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local ok, fail = 0, 0
  local buckets = redis.call('HGETALL', ARGV[2] .. id)
  for i = 1, #buckets, 2 do
    local s = tonumber(buckets[i])
    local o, f = string.match(buckets[i + 1], '^(%d+):(%d+)$')
    if s ~= nil and o ~= nil and s > oldest then
      ok = ok + tonumber(o)
      fail = fail + tonumber(f)
    end
  end
  out[#out + 1] = { id, redis.call('HGETALL', ARGV[1] .. id), ok, fail }
end
return out
`;
