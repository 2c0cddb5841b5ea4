-- search_str.lua - search.lua with Lua strings (flow:peek + string.find):
-- the informational row showing what one Lua string per delivery costs
-- (allocation, interning and GC work that grows with the live flow state).
--
-- Both directions are reassembled; on CONN_NEW_DATA the receiving side's new
-- bytes are taken with flow:peek(side) (which consumes them) and searched
-- with a plain string.find. The last #needle-1 bytes of each direction are
-- kept in flow.ctx so a needle straddling two reads is found exactly once:
-- matches starting in the carry are looked for in carry .. first #needle-1
-- new bytes (no match can lie wholly inside the carry), the rest in the new
-- bytes alone, so the big string is never concatenated.
--
-- Parameters: needle=STRING (default MOSBENCH-NEEDLE-5e1d); udes=N defines
-- N extra user-defined events nested on CONN_NEW_DATA, each with a cheap
-- filter that never fires and a handler, for the event-scaling series: the
-- cost measured is the dispatcher's, per event and per UDE.
local mos = require "mos"

local param = mos.param or {}
local needle = param.needle or "MOSBENCH-NEEDLE-5e1d"
local nlen = #needle
local keep = nlen - 1
local udes = tonumber(param.udes or 0) or 0
local find, sub = string.find, string.sub

local sock = mos.socket("stream")
local hits, flows, ude_fired = 0, 0, 0

local function scan(ctx, side, data)
  local n = #data
  if n == 0 then return end
  local carry = ctx[side]
  if carry and keep > 0 then
    local edge = carry .. sub(data, 1, keep)
    local i = find(edge, needle, 1, true)
    while i do
      hits = hits + 1
      i = find(edge, needle, i + 1, true)
    end
  end
  local i = find(data, needle, 1, true)
  while i do
    hits = hits + 1
    i = find(data, needle, i + 1, true)
  end
  if keep == 0 then
    ctx[side] = nil
  elseif n >= keep then
    ctx[side] = sub(data, -keep)
  else
    ctx[side] = sub((carry or "") .. data, -keep)
  end
end

local function drain(flow, side)
  local data = flow:peek(side)
  if data then scan(flow.ctx, side, data) end
end

sock:on(mos.CONN_NEW_DATA, mos.HK_RCV, drain)

sock:on(mos.CONN_END, mos.HK_SND, function(flow, side)
  -- bytes that came with the flow's last packet may still be unread
  drain(flow, mos.SIDE_CLI or 0)
  drain(flow, mos.SIDE_SVR or 1)
  flows = flows + 1
end)

-- Event-scaling series: N UDEs on CONN_NEW_DATA. The filter reads one
-- flow.ctx field that is never set, so it is as cheap as a filter can be
-- while still looking at the flow, and the handler never runs.
for k = 1, udes do
  local ev = mos.define_event(mos.CONN_NEW_DATA, function(flow, side)
    return flow.ctx.ude_tag == k
  end)
  sock:on(ev, mos.HK_RCV, function(flow, side)
    ude_fired = ude_fired + 1
  end)
end

local function report()
  print("needles " .. hits)
  print("flows " .. flows)
  if udes > 0 then print("ude_fired " .. ude_fired) end
end

if mos.on_exit then mos.on_exit(report) else on_exit = report end -- luacheck: ignore
