/** Lua: screen one page of the mailbox index for the sweep (see the header). */
export const SWEEP_PAGE_LUA = `--[[
  Reads the next page of the mailbox index (lexical order, after a cursor) and screens each
  mailbox where its data is: only mailboxes that may need a delivery come back, with their
  numbers; the rest are only counted. A sweep of a million clean mailboxes thus moves a few
  counters per page instead of a million records through the client (which would allocate,
  and hold in the heap, hundreds of MB). The screen is needsDetail in src/sweep/plan.ts (the
  tests hold the two together): a mailbox with a desired state that is not dirty and either
  (mode "force") any, or whose desired version is above the delivered one, or whose PUBLISH
  expires within the margin. The decision itself stays in TypeScript, on the full view.
  Read only. The mailbox hashes are named from ARGV[3] (the store's key prefix), as BullMQ's
  scripts do with job keys: they share the index's {hash tag}, so the same Redis Cluster slot.

  Input:
    KEYS[1]   mailbox index (zset, every score 0)
    KEYS[2]   dirty set (zset: mailbox -> due at, ms)
    ARGV[1]   cursor: "" for the first page, else the last index entry of the previous page (exclusive)
    ARGV[2]   page size (index entries read)
    ARGV[3]   mailbox hash key prefix, e.g. "{mwi}:mailbox:"
    ARGV[4]   now (ms since epoch)
    ARGV[5]   refresh margin (ms)
    ARGV[6]   mode: "sweep", "force" (resync: every mailbox not dirty) or "all" (every mailbox with a desired state)

  Output:
    { entries read, last entry read (or nil), mailboxes with a desired state, of which dirty,
      then 4 per selected mailbox: mailbox, desired version, delivered version (nil: never),
      expires at (nil: none) as stored (decimal strings) }
    Fewer entries read than the page size: this was the last page.
]]
local from = '-'
if ARGV[1] ~= '' then from = '(' .. ARGV[1] end
local entries = redis.call('ZRANGE', KEYS[1], from, '+', 'BYLEX', 'LIMIT', 0, tonumber(ARGV[2]))
local now = tonumber(ARGV[4])
local margin = tonumber(ARGV[5])
local mode = ARGV[6]
local scanned, dirty = 0, 0
local out = { #entries, entries[#entries] or false, 0, 0 }
for _, mailbox in ipairs(entries) do
  local f = redis.call('HMGET', ARGV[3] .. mailbox, 'dv', 'xv', 'exp')
  if f[1] then
    scanned = scanned + 1
    local isDirty = redis.call('ZSCORE', KEYS[2], mailbox)
    if isDirty then dirty = dirty + 1 end
    local dv = tonumber(f[1])
    -- HMGET gives false for an absent field: false and x is false, so these stay false, never nil.
    local xv = f[2] and tonumber(f[2])
    local exp = f[3] and tonumber(f[3])
    local take = mode == 'all'
    if not take and not isDirty then
      take = mode == 'force' or dv > (xv or -1) or (exp and exp - now <= margin) or false
    end
    if take then
      -- The stored decimal strings, not the numbers: a Lua number above 2^53 / 2 does not come
      -- back exactly as an integer reply (and tostring keeps 14 digits). Comparisons above are exact.
      local n = #out
      out[n + 1] = mailbox
      out[n + 2] = f[1]
      out[n + 3] = f[2]
      out[n + 4] = f[3]
    end
  end
end
out[3] = scanned
out[4] = dirty
return out
`;

/** Lua: the full view of named mailboxes (see the header). */
export const SWEEP_VIEWS_LUA = `--[[
  Per named mailbox, what the sweep plans from: the hash fields (desired state included) and
  the due time in the dirty set. Read only.

  Input:
    KEYS[1]       dirty set (zset: mailbox -> due at, ms)
    KEYS[1 + i]   hash of mailbox i
    ARGV[i]       mailbox i (dirty set member)

  Output:
    flat array, 6 entries per mailbox in input order: dv, ds, xv, exp, lo, due at (strings, nil when absent)
]]
local out = {}
for i = 1, #ARGV do
  local f = redis.call('HMGET', KEYS[i + 1], 'dv', 'ds', 'xv', 'exp', 'lo')
  local n = #out
  out[n + 1] = f[1]
  out[n + 2] = f[2]
  out[n + 3] = f[3]
  out[n + 4] = f[4]
  out[n + 5] = f[5]
  out[n + 6] = redis.call('ZSCORE', KEYS[1], ARGV[i])
end
return out
`;
