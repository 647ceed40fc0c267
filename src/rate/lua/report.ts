/** Lua: add one worker's feedback to a target's control interval, closing it when due (see the header). */
export const REPORT_LUA = `--[[
  Adds one worker's feedback to the current control interval of a target and refreshes the
  worker's in-flight count. When the interval has lasted ARGV[5] ms, this call closes it: the
  closed window and the controller state are returned (to exactly one caller, who decides the
  next rate in TypeScript and writes it back with set-state) and a new interval starts now.
  A target that was never acquired has no interval: only the in-flight count is recorded.

  Input:
    KEYS[1]   rate hash (window fields wStart, wAdm, wOk, wOver, wTo, wTx, wRetx, wLatSum, wLatN, wLatMax)
    KEYS[2]   in-flight hash (worker -> "count:updatedAtMs")

    ARGV[1]   now (ms since epoch)
    ARGV[2]   worker id
    ARGV[3]   the worker's in-flight count; -1: unknown (an acquire is under way), keep the stored one
    ARGV[4]   liveness of an in-flight count (ms)
    ARGV[5]   control interval (ms)
    ARGV[6..13]  ok, overload, timeouts, transport errors, retransmissions, latency sum (ms),
                 latency count, latency max (ms)

  Output:
    {} while the interval is open; when this call closed it:
    { startedAt, endedAt, admitted, ok, overload, timeouts, transportErrors, retransmissions,
      latencySumMs, latencyCount, latencyMaxMs, version, state JSON or "" } (all strings)
]]
local now = tonumber(ARGV[1])
local mine = tonumber(ARGV[3])
if mine < 0 then
  -- The worker has an acquire in flight whose grant it does not know yet: keep the count, refresh its time.
  local current = string.match(redis.call('HGET', KEYS[2], ARGV[2]) or '', '^(%d+):')
  if current then mine = tonumber(current) else mine = 0 end
end
if mine > 0 then
  redis.call('HSET', KEYS[2], ARGV[2], mine .. ':' .. now)
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[4]) * 2)
else
  redis.call('HDEL', KEYS[2], ARGV[2])
end

if redis.call('HEXISTS', KEYS[1], 'rate') == 0 then return {} end

local counters = { 'wOk', 'wOver', 'wTo', 'wTx', 'wRetx', 'wLatSum', 'wLatN' }
for i, field in ipairs(counters) do
  local n = tonumber(ARGV[5 + i])
  if n ~= 0 then redis.call('HINCRBYFLOAT', KEYS[1], field, n) end
end
local latMax = tonumber(ARGV[13])
if latMax > (tonumber(redis.call('HGET', KEYS[1], 'wLatMax')) or 0) then
  redis.call('HSET', KEYS[1], 'wLatMax', ARGV[13])
end

local startedAt = tonumber(redis.call('HGET', KEYS[1], 'wStart'))
if startedAt == nil then
  redis.call('HSET', KEYS[1], 'wStart', now)
  return {}
end
-- A reporter whose clock lags the interval's start just adds to it.
if now - startedAt < tonumber(ARGV[5]) then return {} end

local w = redis.call('HMGET', KEYS[1], 'wAdm', 'wOk', 'wOver', 'wTo', 'wTx', 'wRetx', 'wLatSum', 'wLatN', 'wLatMax', 'ver', 'state')
local admitted = tonumber(w[1]) or 0
local latN = tonumber(w[8]) or 0
local latencyMs = 0
if latN > 0 then latencyMs = (tonumber(w[7]) or 0) / latN end
redis.call('HSET', KEYS[1], 'wStart', now, 'wAdm', 0, 'wOk', 0, 'wOver', 0, 'wTo', 0, 'wTx', 0, 'wRetx', 0,
  'wLatSum', 0, 'wLatN', 0, 'wLatMax', 0,
  'lastAdmPerSec', tostring(admitted * 1000 / (now - startedAt)), 'lastLatMs', tostring(latencyMs))
local out = { tostring(startedAt), tostring(now) }
for i = 1, 9 do out[#out + 1] = w[i] or '0' end
out[#out + 1] = w[10] or '0'
out[#out + 1] = w[11] or ''
return out
`;
