-- dispatch_count.lua (test_dispatch_counts.sh): one handler on every event
-- at every hook the event accepts (docs/events.md), each counting its calls
-- and reading nothing else; writes {"EVENT@HOOK": calls, ...} to -s out=FILE
-- at exit. A user-defined event whose filter never fires is raised
-- explicitly (mos.raise_event) on every CONN_START at HK_SND and counted at
-- HK_RCV ("UDE@RCV"; ev_ude counts explicit raises). The test compares these
-- counts with the ev_* counters of --stats.
local mos = require "mos"

local out = assert(mos.param.out, "dispatch_count: give -s out=FILE")
local HOOKS = {
  PKT_IN = { "SND", "RCV" },
  CONN_START = { "SND", "RCV" },
  CONN_NEW_DATA = { "RCV", "NONE" },
  CONN_END = { "SND", "RCV", "NONE" },
  TCP_STATE_CHANGE = { "SND", "RCV" },
  REXMIT = { "SND", "RCV" },
  REXMIT_INCONSISTENT = { "SND", "RCV" },
  GAP = { "RCV", "NONE" },
  ORPHAN = { "NONE" },
  ERROR = { "NONE" },
}
local n = {}
local s = mos.socket("stream")
for ev, hooks in pairs(HOOKS) do
  for _, hk in ipairs(hooks) do
    local key = ev .. "@" .. hk
    n[key] = 0
    s:on(mos[ev], mos["HK_" .. hk], function() n[key] = n[key] + 1 end)
  end
end
local ude = mos.define_event(mos.CONN_NEW_DATA, function() return false end)
n["UDE@RCV"] = 0
s:on(ude, mos.HK_RCV, function() n["UDE@RCV"] = n["UDE@RCV"] + 1 end)
s:on(mos.CONN_START, mos.HK_SND, function(flow, side) mos.raise_event(flow, side, ude) end)
mos.on_exit(function()
  local f = assert(io.open(out, "w"))
  f:write(mos.json.encode(n), "\n")
  f:close()
end)
