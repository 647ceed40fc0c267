/** Lua: take send slots under a target's fleet-wide rate and in-flight cap (see the header). */
export const ACQUIRE_LUA = `--[[
  Grants up to ARGV[3] send slots to one worker: each slot takes a token of the target's token
  bucket (refilled at the current rate, holding at most ARGV[9] seconds of it, so no 1 s window
  sees more than rate * (1 + burst)) and room under the fleet-wide in-flight cap (the sum of the
  in-flight counts of live workers; a count not refreshed within ARGV[10] ms is a crashed
  worker's and is dropped). Nothing is granted while the target is held. Records the worker's
  in-flight count including this grant. Creates the target at the initial rate on first use.

  Input:
    KEYS[1]   rate hash (rate, ver, state, tokens, refillAt, holdUntil, holdReason, wStart, wAdm, ...)
    KEYS[2]   in-flight hash (worker -> "count:updatedAtMs")
    KEYS[3]   set of every target with rate state

    ARGV[1]   target id (member of KEYS[3])
    ARGV[2]   now (ms since epoch)
    ARGV[3]   slots wanted
    ARGV[4]   worker id
    ARGV[5]   the worker's in-flight count before this grant
    ARGV[6]   in-flight cap, fleet-wide
    ARGV[7]   configured cap of the rate (per second): the stored rate never exceeds it
    ARGV[8]   rate of a new target (per second)
    ARGV[9]   burst: bucket size in seconds of the rate (at least 1 token)
    ARGV[10]  liveness of an in-flight count (ms)

  Output:
    { granted, waitMs, holdUntil, limitedBy (0 none, 1 rate, 2 in-flight, 3 hold),
      rate (string), fleet in-flight after the grant, live workers, hold reason or "" }
]]
local now = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local worker = ARGV[4]
local mine = tonumber(ARGV[5])
local maxInFlight = tonumber(ARGV[6])
local liveMs = tonumber(ARGV[10])

local f = redis.call('HMGET', KEYS[1], 'rate', 'tokens', 'refillAt', 'holdUntil', 'holdReason')
local rate = tonumber(f[1])
if rate == nil then
  rate = tonumber(ARGV[8])
  redis.call('HSET', KEYS[1], 'rate', ARGV[8], 'ver', 0, 'wStart', now)
  redis.call('SADD', KEYS[3], ARGV[1])
end
rate = math.min(rate, tonumber(ARGV[7]))
local burst = math.max(1, rate * tonumber(ARGV[9]))
local holdUntil = tonumber(f[4]) or 0

local others = 0
local live = 0
local entries = redis.call('HGETALL', KEYS[2])
for i = 1, #entries, 2 do
  if entries[i] ~= worker then
    local count, at = string.match(entries[i + 1], '^(%d+):(%d+)$')
    count = tonumber(count)
    at = tonumber(at)
    if count == nil or at == nil or at < now - liveMs then
      redis.call('HDEL', KEYS[2], entries[i])
    elseif count > 0 then
      others = others + count
      live = live + 1
    end
  end
end

local granted = 0
local waitMs = 0
local limitedBy = 0
if holdUntil > now then
  limitedBy = 3
  waitMs = holdUntil - now
else
  local tokens = tonumber(f[2]) or burst
  local refillAt = tonumber(f[3]) or now
  -- No tokens accrue during a hold; a worker whose clock lags adds nothing until it catches up.
  if refillAt < holdUntil then refillAt = holdUntil end
  if now > refillAt then
    tokens = tokens + (now - refillAt) * rate / 1000
    refillAt = now
  end
  tokens = math.min(tokens, burst)
  local room = math.max(0, maxInFlight - others - mine)
  granted = math.max(0, math.min(want, math.floor(tokens), room))
  tokens = tokens - granted
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'refillAt', refillAt)
  if granted > 0 then redis.call('HINCRBY', KEYS[1], 'wAdm', granted) end
  if granted < want then
    if granted >= room then
      limitedBy = 2
    else
      limitedBy = 1
      local need = math.min(want - granted, math.max(1, math.floor(burst / 2)))
      waitMs = math.ceil((need - tokens) * 1000 / rate)
    end
  end
end

mine = mine + granted
if mine > 0 then
  redis.call('HSET', KEYS[2], worker, mine .. ':' .. now)
  live = live + 1
else
  redis.call('HDEL', KEYS[2], worker)
end
redis.call('PEXPIRE', KEYS[2], liveMs * 2)

return { granted, waitMs, holdUntil, limitedBy, tostring(rate), others + mine, live, f[5] or '' }
`;
