-- firewall.lua: drop every packet of connections matching a rule (inline).
--   -s rule=PORT | HOST | HOST:PORT   (compared with the server endpoint)
--   -s reset=1                        also end the flow (RST when inline)
-- Matching is decided at a flow's first packet and remembered in flow.ctx.
local mos = require "mos"

local rule = mos.param.rule
if rule == nil or rule == "" then error("firewall: give a rule with -s rule=PORT|HOST|HOST:PORT") end
local reset = mos.param.reset == "1"

local function matches(flow)
  local ip, port = flow:peer(mos.SIDE_SVR)
  if rule:match("^%d+$") then return tonumber(rule) == port end
  local h, p = rule:match("^%[?([^%]]+)%]?:(%d+)$")
  if h and not rule:match("^[^%[].*:.*:") then return h == ip and tonumber(p) == port end
  return rule == ip
end

local dropped = 0
local s = mos.socket("stream")
s:on(mos.PKT_IN, mos.HK_SND, function(flow)
  local ctx = flow.ctx
  if ctx.blocked == nil then
    ctx.blocked = matches(flow)
    if ctx.blocked then
      mos.log({ msg = "blocked", flow = tonumber(flow.id), client = flow.client, server = flow.server })
    end
  end
  if ctx.blocked then
    flow:drop()
    dropped = dropped + 1
    if reset then flow:reset() end
  end
end)
mos.on_exit(function() mos.log({ msg = "total", dropped = dropped }) end)
