-- match.lua: multi-pattern stream search with mos.matcher. Every match in
-- either direction of every connection, split across segments or not, is
-- one JSON line: flow, side, pattern id, stream offset just past the match.
--
--   mos-lua -r cap.pcap -s patterns=FILE scripts/match.lua    # a pattern file (lua/README.md)
--   mos-lua -r cap.pcap -s needle=password scripts/match.lua  # one literal (id 1)
local mos = require "mos"

local spec = mos.param.patterns or (mos.param.needle and { mos.param.needle })
if spec == nil or spec == "" or spec[1] == "" then
  error("match: give -s patterns=FILE (one pattern per line) or -s needle=STRING")
end
local m = mos.matcher(spec)

local hits = 0
local function scan(flow, side)
  for id, offset in m:scan(flow, side) do
    hits = hits + 1
    mos.log({ msg = "match", flow = tonumber(flow.id), side = side == mos.SIDE_CLI and "cli" or "svr",
              dir = side == mos.SIDE_SVR and "c2s" or "s2c", id = id, offset = offset })
  end
end

local s = mos.socket("stream")
s:on(mos.CONN_NEW_DATA, mos.HK_RCV, function(flow, side) scan(flow, side) end)
-- bytes delivered when the flow ends (held segments flushed past a hole)
s:on(mos.CONN_END, mos.HK_NONE, function(flow) scan(flow, mos.SIDE_CLI); scan(flow, mos.SIDE_SVR) end)
mos.on_exit(function() mos.log({ msg = "total", matches = hits }) end)
