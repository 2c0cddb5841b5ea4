-- count.lua - packet counting benchmark app for mos-lua.
--
-- A per-flow counter is bumped on every packet (PKT_IN at HK_SND fires once
-- per packet, on the sender's side) and folded into a per-core total when
-- the flow ends; the total is printed at exit. With several cores each
-- core's VM prints its own lines; bench/run.sh sums them.
--
-- The counter is the flow's user context (flow.uctx, an integer in the flow
-- itself), exactly like bench/c_apps/count.c, so the Lua/C ratio measures
-- the language and not a different data structure. count_ctx.lua is the
-- same app keeping the counter in a flow.ctx table (one Lua table per flow:
-- at 192k concurrent flows that is ~2 extra cache misses per packet).
local mos = require "mos"

local sock = mos.socket("stream")
local packets, flows = 0, 0

sock:on(mos.PKT_IN, mos.HK_SND, function(flow, side)
  flow.uctx = flow.uctx + 1
end)

sock:on(mos.CONN_END, mos.HK_SND, function(flow, side)
  packets = packets + tonumber(flow.uctx)
  flows = flows + 1
end)

local function report()
  print("packets " .. packets)
  print("flows " .. flows)
end

if mos.on_exit then mos.on_exit(report) else on_exit = report end -- luacheck: ignore
