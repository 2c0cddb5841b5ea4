-- match.lua - reassembly + stream matching benchmark app with mos.matcher
-- (the natural way to search streams in a script; bench/c_apps/match.c is
-- the same app on the C API, for the Lua/C ratio).
--
-- needle=STRING searches one literal (id 1); patterns=FILE loads a pattern
-- file (lua/README.md format) whose planted needle has id 1. On
-- CONN_NEW_DATA the receiving side is scanned; at CONN_END both sides are
-- (bytes flushed at the end). Output: "needles N" (matches of id 1),
-- "other N", "flows N".
local mos = require "mos"

local param = mos.param or {}
local m = mos.matcher(param.patterns or { param.needle or "MOSBENCH-NEEDLE-5e1d" })

local sock = mos.socket("stream")
local needles, other, flows = 0, 0, 0

local function scan(flow, side)
  for id in m:scan(flow, side) do
    if id == 1 then needles = needles + 1 else other = other + 1 end
  end
end

sock:on(mos.CONN_NEW_DATA, mos.HK_RCV, scan)
sock:on(mos.CONN_END, mos.HK_SND, function(flow)
  scan(flow, mos.SIDE_CLI)
  scan(flow, mos.SIDE_SVR)
  flows = flows + 1
end)

mos.on_exit(function()
  print("needles " .. needles)
  print("other " .. other)
  print("flows " .. flows)
end)
