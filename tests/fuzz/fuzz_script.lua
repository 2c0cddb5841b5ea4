-- fuzz_script.lua: the middlebox of the fuzz_script target (fuzz_script.h).
--
-- Registers a handler on every event at every hook it accepts (a stream and
-- a raw socket), two levels of user-defined events, and on each call reads
-- both sides (peek, ppeek at the oldest held byte, behind it, past the end,
-- read into an FFI buffer), every getter, and the current packet. The first
-- payload byte of the current packet (the fuzzer controls it) picks one
-- action: rewrite (growing, shrinking), setlastpkt, drop, reset, toggling a
-- side's buffering, overlap policy, raise_event, a timer, a per-flow
-- registration and its removal, or a reload of this script. Actions that
-- multiply work are capped per run. Errors the API returns (nil, err) are
-- expected; a Lua error raised by the API is a misuse by this script and
-- is counted by the runtime like any handler error.
local mos = require "mos"
local ffi = require "ffi"

local rbuf = ffi.new("uint8_t[?]", 300)
local budget = { reset = 8, raise = 64, timer = 32, reload = 2, on = 32 }
local sink = 0

local function touch(s)
  if s then sink = (sink + #s) % 65521 end
end

local function read_all(flow, side)
  touch(flow:peek(side, 1 + sink % 700))
  touch(flow:ppeek(side, 0, 64))
  local bi = flow:get("bufinfo", side)
  if bi then
    local d = bi.delivered or 0
    touch(flow:ppeek(side, d > 40 and d - 40 or 0, 80))
    touch(flow:ppeek(side, d + 5000, 16))
  end
  if flow:read(side, rbuf, 300) > 0 then sink = (sink + rbuf[0]) % 65521 end
  touch(flow:peek(side))
  flow:gaps(side)
  flow:state(side)
  flow:get("rexmit", side)
  flow:get("rexmit_inconsistent", side)
end

local function on_timer() sink = sink + 1 end
local function on_flow_rexmit(flow, side) touch(flow:ppeek(side, 0, 8)) end

local ude, ude2

local function act(flow, side, ev)
  local ctx = flow.ctx
  ctx.n = (ctx.n or 0) + 1
  touch(flow.client)
  touch(flow.server)
  flow:info()
  flow:get("clibuf"); flow:get("svrbuf"); flow:get("overlap")
  read_all(flow, 0)
  read_all(flow, 1)
  local p = flow:lastpkt(side)
  if not p or p.payload_len == 0 or ev == mos.CONN_END then return end
  local op, arg = p.payload:byte(1), p.payload:byte(2) or 0
  op = op % 16
  if op == 1 then flow:rewrite(arg % 8, 1, string.rep("G", arg % 5 + 2))
  elseif op == 2 then flow:rewrite(0, arg % 4, "")
  elseif op == 3 then flow:setlastpkt("payload", arg % 6, "S")
  elseif op == 4 then flow:setlastpkt("tcp", 14, "\1\2")
  elseif op == 5 then flow:drop()
  elseif op == 6 and budget.reset > 0 then budget.reset = budget.reset - 1; flow:reset()
  elseif op == 7 then flow:set(arg % 2 == 0 and "clibuf" or "svrbuf", arg % 4 < 2)
  elseif op == 8 then flow:set("overlap", arg % 2 == 0 and "first" or "last")
  elseif op == 9 and budget.raise > 0 then budget.raise = budget.raise - 1; mos.raise_event(flow, side, ude)
  elseif op == 10 and budget.timer > 0 then budget.timer = budget.timer - 1; mos.timer((arg % 8) * 0.25, on_timer, arg % 2 == 0 and flow or nil)
  elseif op == 11 and budget.on > 0 then budget.on = budget.on - 1; flow:on(mos.REXMIT, mos.HK_RCV, on_flow_rexmit)
  elseif op == 12 then flow:off(mos.REXMIT, mos.HK_RCV, on_flow_rexmit)
  elseif op == 13 and budget.reload > 0 and mos.param.script then budget.reload = budget.reload - 1; mos._reload(mos.param.script)
  elseif op == 14 then ctx.big = string.rep("x", arg * 16)
  end
end

local HOOKS = {
  PKT_IN = { "SND", "RCV" }, CONN_START = { "SND", "RCV" }, CONN_NEW_DATA = { "RCV", "NONE" },
  CONN_END = { "SND", "RCV", "NONE" }, TCP_STATE_CHANGE = { "SND", "RCV" }, REXMIT = { "SND", "RCV" },
  REXMIT_INCONSISTENT = { "SND", "RCV" }, GAP = { "RCV", "NONE" }, ORPHAN = { "NONE" }, ERROR = { "NONE" },
}
local s = mos.socket("stream")
for ev, hooks in pairs(HOOKS) do
  for _, hk in ipairs(hooks) do
    s:on(mos[ev], mos["HK_" .. hk], function(flow, side, e)
      if flow then act(flow, side, e) end
    end)
  end
end
ude = mos.define_event(mos.CONN_NEW_DATA, function(flow, side)
  local b = flow:ppeek(side, 0, 1)
  return b ~= nil and #b == 1 and b:byte() % 3 == 0
end)
ude2 = mos.define_event(ude, function(flow, side, a) return a == 7 and flow.ctx.n ~= nil and flow.ctx.n % 2 == 0 end, 7)
s:on(ude, mos.HK_RCV, function(flow, side) read_all(flow, side) end)
s:on(ude2, mos.HK_NONE, function(flow, side) touch(flow:peek(side, 10)) end)

local r = mos.socket("raw")
r:on(mos.PKT_IN, mos.HK_NONE, function(flow, side)
  local p = mos.now()
  if flow then touch(flow:ppeek(side or 0, 0, 4)) end
  return p
end)
mos.on_exit(function() return sink end)
