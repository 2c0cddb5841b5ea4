-- flowlog.lua: one human-readable line per connection on stdout, at its end:
--   CLIENT -> SERVER cli=STATE svr=STATE c2s=N s2c=N dur=S.SSSSSS
local mos = require "mos"

local s = mos.socket("stream")
s:on(mos.CONN_END, mos.HK_NONE, function(flow)
  local i = flow:info()
  io.write(string.format("%s -> %s cli=%s svr=%s c2s=%d s2c=%d dur=%.6f\n",
    i.client, i.server, i.cli.state, i.svr.state, i.cli.bytes_sent, i.svr.bytes_sent,
    tonumber(i.last_ts_ns - i.first_ts_ns) / 1e9))
end)
