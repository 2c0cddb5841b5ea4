-- count_ctx.lua - count.lua with the per-flow counter in flow.ctx (a Lua
-- table per flow) instead of flow.uctx; informational row of the benchmark.
--
-- A per-flow counter in flow.ctx is bumped on every packet (PKT_IN at
-- HK_SND fires once per packet, on the sender's side) and folded into a
-- per-core total when the flow ends; the total is printed at exit. With
-- several cores each core's VM prints its own lines; bench/run.sh sums them.
local mos = require "mos"

local sock = mos.socket("stream")
local packets, flows = 0, 0

sock:on(mos.PKT_IN, mos.HK_SND, function(flow, side)
  local ctx = flow.ctx
  ctx.n = (ctx.n or 0) + 1
end)

sock:on(mos.CONN_END, mos.HK_SND, function(flow, side)
  packets = packets + (flow.ctx.n or 0)
  flows = flows + 1
end)

local function report()
  print("packets " .. packets)
  print("flows " .. flows)
end

if mos.on_exit then mos.on_exit(report) else on_exit = report end -- luacheck: ignore
