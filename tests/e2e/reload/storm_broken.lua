-- storm_broken.lua (test_reload_storm.sh): a reload that must be rejected.
-- It takes over the running script's socket and registers handlers before
-- failing at its top level, so the rejection has registrations to undo.
local mos = require "mos"
local s = mos.socket("stream")
s:on(mos.PKT_IN, mos.HK_SND, function() error("must never run") end)
s:on(mos.CONN_END, mos.HK_NONE, function() error("must never run") end)
error("storm_broken.lua: rejected on purpose")
