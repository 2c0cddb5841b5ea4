-- storm.lua (test_reload_storm.sh): counts every packet into its flow's
-- ctx and asks for a reload every `every` packets while the N flows of
-- storm_pcap.py's middle phase are live, alternating this script with
-- storm_broken.lua (rejected: the running script must stay), `reloads`
-- times. State that must outlive reloads lives in one global table (the
-- environment of each load is fresh; _G is shared); flow.ctx must survive
-- on its own. Before each request it records the Lua heap after a full
-- collection and the RSS. At exit it writes the figures as JSON to -s out=.
--   -s good=PATH -s broken=PATH -s every=N -s reloads=N -s first=N -s out=FILE
local mos = require "mos"
local P = mos.param
local every, total, first = tonumber(P.every), tonumber(P.reloads), tonumber(P.first)

local st = rawget(_G, "storm_state")
if st == nil then
  st = { pkts = 0, starts = 0, ends = 0, ctx_lost = 0, end_mismatch = 0, asked = 0, loads = 0,
         lua_kb = {}, rss_kb = {} }
  rawset(_G, "storm_state", st)
end
st.loads = st.loads + 1

local function rss_kb()
  local f = io.open("/proc/self/statm")
  if not f then return 0 end
  local _, res = f:read("*n", "*n")
  f:close()
  return res * 4
end

local s = mos.socket("stream")
s:on(mos.CONN_START, mos.HK_SND, function(flow)
  flow.ctx.pkts = 0
  st.starts = st.starts + 1
end)
s:on(mos.PKT_IN, mos.HK_SND, function(flow)
  local c = flow.ctx
  if c.pkts == nil then st.ctx_lost = st.ctx_lost + 1; c.pkts = 0 end
  c.pkts = c.pkts + 1
  local n = st.pkts + 1
  st.pkts = n
  if n >= first and (n - first) % every == 0 and st.asked < total then
    st.asked = st.asked + 1
    collectgarbage("collect")
    st.lua_kb[#st.lua_kb + 1] = collectgarbage("count")
    st.rss_kb[#st.rss_kb + 1] = rss_kb()
    mos._reload(st.asked % 2 == 1 and P.broken or P.good)
  end
end)
s:on(mos.CONN_END, mos.HK_NONE, function(flow)
  local i = flow:info()
  if flow.ctx.pkts ~= i.cli.pkts_sent + i.svr.pkts_sent then st.end_mismatch = st.end_mismatch + 1 end
  st.ends = st.ends + 1
end)
mos.on_exit(function()
  local f = assert(io.open(P.out, "w"))
  f:write(mos.json.encode(st), "\n")
  f:close()
end)
