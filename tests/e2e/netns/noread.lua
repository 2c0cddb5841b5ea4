-- noread.lua (impairment test): registers the retransmission events on both
-- hooks but never reads a byte, so the stream rings are only ever compared
-- against, never consumed. Writes {"rexmit": N, "rexmit_inconsistent": N}
-- (handler calls on the receive hook) to -s out=FILE at exit.
local mos = require "mos"

local out = assert(mos.param.out, "noread: give -s out=FILE")
local n = { rexmit = 0, rexmit_inconsistent = 0 }

local s = mos.socket("stream")
s:on(mos.REXMIT, mos.HK_RCV, function() n.rexmit = n.rexmit + 1 end)
s:on(mos.REXMIT_INCONSISTENT, mos.HK_RCV, function() n.rexmit_inconsistent = n.rexmit_inconsistent + 1 end)
mos.on_exit(function()
  local f = assert(io.open(out, "w"))
  f:write(mos.json.encode(n), "\n")
  f:close()
end)
