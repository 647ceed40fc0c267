/** Lua: add evidence to a breaker's fleet window and trip it when the rule says so (see the header). */
import { BREAKER_LUA_LIB } from './breaker-lua-lib.ts';

export const REPORT_LUA = `--[[
  Adds this worker's outcomes to the per-second buckets of the breaker's evidence window,
  drops buckets that left the window, and, if the breaker is closed and the window's failures
  are at least minFailures and at least failureRatio of all outcomes, opens it (first probe
  after openDelayMs) and records the transition. An open or isolated breaker only gathers
  evidence. Same rule as shouldTrip() in breaker-state.ts.

  Input:
    KEYS[1]   breaker hash
    KEYS[2]   evidence hash (field = second since epoch, value = "ok:fail"), TTL window + 1 s
    KEYS[3]   set of every breaker id
    KEYS[4]   transition log (list of JSON, newest first)

    ARGV[1]   breaker id
    ARGV[2]   now (ms since epoch)
    ARGV[3]   ok outcomes to add
    ARGV[4]   failed outcomes to add
    ARGV[5]   reason of the latest failure (the trip reason)
    ARGV[6]   worker id
    ARGV[7]   windowMs
    ARGV[8]   minFailures
    ARGV[9]   failureRatio
    ARGV[10]  openDelayMs (first probe wait, jittered by the caller)
    ARGV[11]  log cap (entries kept)
    ARGV[12]  channel the id is published on
    ARGV[13]  "1" if this report holds a success (then the run of failures restarts), else "0"
    ARGV[14]  failures after this report's last success (all of them if it holds none)
    ARGV[15]  consecutiveFailures: a run this long trips whatever the window says

  Output:
    { breaker hash as HGETALL, ok in window, failures in window, transition JSON or '', failures in a row }

  The run of failures in a row lives in the breaker hash (field run) and only grows while the
  breaker is closed: it starts from 0 after every close.
]]
${BREAKER_LUA_LIB}
local id, now = ARGV[1], tonumber(ARGV[2])
local addOk, addFail = tonumber(ARGV[3]), tonumber(ARGV[4])
local windowMs, minFailures, failureRatio = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])

local sec = math.floor(now / 1000)
local oldest = sec - math.ceil(windowMs / 1000)
local ok, fail = 0, 0
local currentOk, currentFail = 0, 0
local expired = {}
local buckets = redis.call('HGETALL', KEYS[2])
for i = 1, #buckets, 2 do
  local s = tonumber(buckets[i])
  local o, f = string.match(buckets[i + 1], '^(%d+):(%d+)$')
  if s == nil or o == nil or s <= oldest then
    expired[#expired + 1] = buckets[i]
  else
    ok = ok + tonumber(o)
    fail = fail + tonumber(f)
    if s == sec then currentOk, currentFail = tonumber(o), tonumber(f) end
  end
end
for i = 1, #expired, 100 do
  redis.call('HDEL', KEYS[2], unpack(expired, i, math.min(i + 99, #expired)))
end

if addOk > 0 or addFail > 0 then
  redis.call('HSET', KEYS[2], sec, (currentOk + addOk) .. ':' .. (currentFail + addFail))
  redis.call('PEXPIRE', KEYS[2], windowMs + 1000)
  ok = ok + addOk
  fail = fail + addFail
end
redis.call('SADD', KEYS[3], id)

local transition = ''
local run = 0
if breakerKind(KEYS[1]) == 'closed' then
  if ARGV[13] == '1' then
    run = tonumber(ARGV[14])
  else
    run = (tonumber(redis.call('HGET', KEYS[1], 'run')) or 0) + tonumber(ARGV[14])
  end
  local byWindow = fail >= minFailures and fail > 0 and fail / (ok + fail) >= failureRatio
  if byWindow or run >= tonumber(ARGV[15]) then
    writeOpen(KEYS[1], now, ARGV[5], now + tonumber(ARGV[10]))
    transition = logTransition(KEYS[1], KEYS[4], ARGV[11], ARGV[12], id, 'closed', 'open', now, ARGV[5], ARGV[6], '')
    run = 0
  end
end
redis.call('HSET', KEYS[1], 'run', run)
return { redis.call('HGETALL', KEYS[1]), ok, fail, transition, run }
`;
