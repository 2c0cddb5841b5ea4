-- bytecount.lua (live tests): reassembled bytes per connection and
-- direction, written as one JSON line per connection at its end to the
-- file -s out=FILE (appended: each core writes whole lines).
--   {"client": "10.199.1.1:40000", "server": "10.199.1.2:8080", "c2s": N, "s2c": N}
local mos = require "mos"

local out = assert(mos.param.out, "bytecount: give -s out=FILE")

local function pull(flow)
  local ctx = flow.ctx
  ctx.c2s = (ctx.c2s or 0) + #flow:peek(mos.SIDE_SVR)
  ctx.s2c = (ctx.s2c or 0) + #flow:peek(mos.SIDE_CLI)
end

local s = mos.socket("stream")
s:on(mos.CONN_NEW_DATA, mos.HK_RCV, pull)
s:on(mos.CONN_END, mos.HK_NONE, function(flow)
  pull(flow)
  local f = assert(io.open(out, "a"))
  f:write(mos.json.encode({ client = flow.client, server = flow.server, c2s = flow.ctx.c2s, s2c = flow.ctx.s2c }), "\n")
  f:close()
end)
