-- count.lua: packets per flow (PKT_IN at HK_RCV), logged at each flow's end,
-- and the total at exit.
local mos = require "mos"

local total, flows = 0, 0
local s = mos.socket("stream")
s:on(mos.PKT_IN, mos.HK_RCV, function(flow)
  local ctx = flow.ctx
  ctx.pkts = (ctx.pkts or 0) + 1
  total = total + 1
end)
s:on(mos.CONN_END, mos.HK_NONE, function(flow)
  flows = flows + 1
  mos.log({ msg = "flow", flow = tonumber(flow.id), client = flow.client, server = flow.server,
            pkts = flow.ctx.pkts or 0 })
end)
mos.on_exit(function()
  mos.log({ msg = "total", pkts = total, flows = flows })
  if mos.param.print then print(string.format("%d packets in %d flows", total, flows)) end
end)
