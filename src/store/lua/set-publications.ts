/** Lua: store a batch of publications (ETag + expiry) with their own TTLs (see the header). */
export const SET_PUBLICATIONS_LUA = `--[[
  SET key value PXAT t for each of a batch of publication keys (MSET has no expiry).

  Input:
    KEYS[i]          publication key of the i-th entry
    ARGV[2*i - 1]    its value (JSON etag + expiresAt)
    ARGV[2*i]        when Redis drops it (ms since epoch)

  Output: the number of entries written.
]]
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[2 * i - 1], 'PXAT', ARGV[2 * i])
end
return #KEYS
`;
