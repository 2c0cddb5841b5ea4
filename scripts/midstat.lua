-- midstat.lua: mOS's midstat: while running, a table of the live TCP
-- connections with both endpoints' inferred states, the top ones by bytes.
--
-- Parameters: -s interval=SECONDS (default 1) of packet time (offline) or
-- wall time (live) between two tables; -s top=N (default 10) rows.
-- SIGUSR1 prints a table at once (and rewrites --stats as always).
-- Output on stdout, one block per table and core:
--   midstat core C at TS (timer|signal): N connections, top K by bytes
--   client  cli_state  server  svr_state  c2s_bytes  s2c_bytes
-- bytes are the payload bytes each side sent (retransmissions included).
local mos = require "mos"

local interval = tonumber(mos.param.interval or 1)
local top = tonumber(mos.param.top or 10)
if interval == nil or interval <= 0 then error("midstat: -s interval= must be a positive number of seconds", 0) end
if top == nil or top < 1 or top % 1 ~= 0 then error("midstat: -s top= must be a positive integer", 0) end

local live = {} -- flow id -> row; rows leave at CONN_END
local ROW = "%-45s %-11s %-45s %-11s %12s %12s\n"

local function print_table(why)
  local rows = {}
  for _, r in pairs(live) do rows[#rows + 1] = r end
  table.sort(rows, function(a, b)
    local x, y = a.c2s + a.s2c, b.c2s + b.s2c
    if x ~= y then return x > y end
    return a.id < b.id
  end)
  local n = math.min(top, #rows)
  local out = { string.format("midstat core %d at %.6f (%s): %d connections, top %d by bytes\n", mos.core_id, mos.now(),
                              why, #rows, n), ROW:format("client", "cli_state", "server", "svr_state", "c2s_bytes", "s2c_bytes") }
  for i = 1, n do
    local r = rows[i]
    out[#out + 1] = ROW:format(r.client, mos.STATES[r[0]], r.server, mos.STATES[r[1]], r.c2s, r.s2c)
  end
  io.write(table.concat(out))
  io.flush()
end

local armed = false
local function tick()
  print_table("timer")
  mos.timer(interval, tick)
end

local s = mos.socket("stream")
s:on(mos.CONN_START, mos.HK_SND, function(flow)
  flow:set("clibuf", false) -- no bytes are read
  flow:set("svrbuf", false)
  local id = tonumber(flow.id)
  live[id] = { id = id, client = flow.client, server = flow.server, c2s = 0, s2c = 0,
               [0] = mos[flow:state(mos.SIDE_CLI)], [1] = mos[flow:state(mos.SIDE_SVR)] }
  if not armed then armed = true; mos.timer(interval, tick) end
end)
local function changed(flow, side, _, state) live[tonumber(flow.id)][side] = state end
s:on(mos.TCP_STATE_CHANGE, mos.HK_SND, changed)
s:on(mos.TCP_STATE_CHANGE, mos.HK_RCV, changed)
s:on(mos.PKT_IN, mos.HK_RCV, function(flow)
  local r = live[tonumber(flow.id)]
  r.c2s, r.s2c = flow:bytes()
end)
s:on(mos.CONN_END, mos.HK_NONE, function(flow) live[tonumber(flow.id)] = nil end)
mos.on_signal("USR1", function() print_table("signal") end)
