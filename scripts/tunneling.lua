-- tunneling.lua: data accounting per flow, and detection of retransmissions
-- that carried DIFFERENT bytes than the original (REXMIT_INCONSISTENT), the
-- signature of covert channels and injection (e.g. Quantum Insert).
-- Logs one "inconsistent_rexmit" record per event and, at each flow's end,
-- one "flow" record for flows that had any.
local mos = require "mos"

local s = mos.socket("stream")
s:on(mos.REXMIT_INCONSISTENT, mos.HK_RCV, function(flow, side)
  local ctx = flow.ctx
  ctx.bad = (ctx.bad or 0) + 1
  local p = flow:lastpkt(side)
  mos.log({ msg = "inconsistent_rexmit", flow = tonumber(flow.id), client = flow.client, server = flow.server,
            -- at HK_RCV, side is the receiving endpoint: the other one sent it
            sender = side == mos.SIDE_SVR and "client" or "server",
            seq = p and p.seq or nil, len = p and p.payload_len or nil })
end)
s:on(mos.REXMIT, mos.HK_RCV, function(flow)
  local ctx = flow.ctx
  ctx.rexmit = (ctx.rexmit or 0) + 1
end)
s:on(mos.CONN_END, mos.HK_NONE, function(flow)
  local ctx = flow.ctx
  if (ctx.bad or 0) == 0 then return end
  local i = flow:info()
  mos.log({ msg = "flow", flow = i.id, client = i.client, server = i.server,
            c2s_bytes = i.cli.bytes_sent, s2c_bytes = i.svr.bytes_sent,
            rexmit = ctx.rexmit or 0, inconsistent = ctx.bad,
            c2s_inconsistent = i.svr.rexmit_inconsistent, s2c_inconsistent = i.cli.rexmit_inconsistent })
end)
