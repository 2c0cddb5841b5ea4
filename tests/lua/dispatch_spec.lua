-- The Lua dispatcher's walk over trees with several UDEs (lua/mos/runtime.lua:
-- walk_udes and the per-tree plans): tree order, skipping of a false
-- filter's subtree, errors in filters and handlers in the middle of a walk
-- (the walk goes on; each error counted and reported with its location),
-- and trees that differ between flows (per-flow registrations).
-- Capture (helpers.lua): 5 CONN_NEW_DATA at HK_RCV, 3 in flow 1 then 2 in flow 2.
local T = require "mos.testing"
package.path = T.source_dir .. "/tests/lua/?.lua;" .. package.path
local H = require "helpers"

local function run(text)
  return T.run({ capture = H.capture(), script_text = text })
end

describe("UDE dispatch", function()
  it("walks in tree order, skips a false subtree, survives errors mid-walk", function()
    local r = run([[
local mos = require "mos"
local s = mos.socket("stream")
local log, n = {}, 0
local function mark(x) log[#log + 1] = x end
local A = mos.define_event(mos.CONN_NEW_DATA, function() mark("fA") error("bad filter") end)
local B = mos.define_event(mos.CONN_NEW_DATA, function() mark("fB") return true end)
local C = mos.define_event(mos.CONN_NEW_DATA, function(flow, side, arg) mark("fC" .. arg) return true end, "!")
local D = mos.define_event(C, function() mark("fD") return 1 end)
local E = mos.define_event(mos.CONN_NEW_DATA, function() mark("fE") return false end)
local F = mos.define_event(E, function() mark("fF") return true end)
local G = mos.define_event(mos.CONN_NEW_DATA, function() mark("fG") return nil end)
s:on(A, mos.HK_RCV, function() mark("hA") end)
s:on(B, mos.HK_RCV, function() mark("hB") error("bad handler") end)
s:on(C, mos.HK_RCV, function(flow, side, ev, arg) mark(ev == C and "hC" or "hC?") end)
s:on(D, mos.HK_RCV, function(flow, side, ev) mark(ev == D and "hD" or "hD?") end)
s:on(F, mos.HK_RCV, function() mark("hF") end)
s:on(G, mos.HK_RCV, function() mark("hG") end)
s:on(mos.CONN_NEW_DATA, mos.HK_RCV, function() n = n + 1 mark("|") end)
mos.on_exit(function() print(n, table.concat(log, " ")) end)
]])
    assert.are.equal(1, r.exit, r.stderr) -- strict (mos.testing's default): the run completes, the exit says it had errors
    local one = "| fA fB hB fC! hC fD hD fE fG"
    assert.are.equal("5\t" .. table.concat({ one, one, one, one, one }, " ") .. "\n", r.stdout)
    -- 5 filter errors (A) and 5 handler errors (B)
    assert.are.equal(10, r.stats.counters.handler_errors)
    -- each kind: 5 records, the first naming the script line, the error,
    -- the event and flow 1
    local function errors(msg, line, text)
      local recs = T.records(r, msg)
      assert.are.equal(5, #recs)
      assert.truthy(recs[1].where:match("script%.lua:" .. line .. "$"), recs[1].where)
      assert.truthy(recs[1].error:find("script.lua:" .. line .. ": " .. text, 1, true), recs[1].error)
      assert.are.equal("CONN_NEW_DATA", recs[1].event)
      assert.are.equal(1, recs[1].flow)
      return recs
    end
    local fe = errors("filter error", 5, "bad filter")
    assert.are.equal(5, fe[5].count)
    assert.are.equal(2, fe[5].flow)
    errors("handler error", 13, "bad handler")
  end)

  it("uses each flow's own tree when flows register different UDE handlers", function()
    local r = run([[
local mos = require "mos"
local s = mos.socket("stream")
local U = mos.define_event(mos.CONN_NEW_DATA, function(flow) return flow.ctx.want end)
local V = mos.define_event(mos.CONN_NEW_DATA, function() return true end)
local hits = {}
local function hit(flow, side, ev)
  local k = tonumber(flow.id) .. (ev == U and "U" or ev == V and "V" or "?")
  hits[#hits + 1] = k
end
s:on(V, mos.HK_RCV, hit)
s:on(mos.CONN_START, mos.HK_SND, function(flow)
  flow.ctx.want = true
  if tonumber(flow.id) == 2 then flow:on(U, mos.HK_RCV, hit) end
end)
mos.on_exit(function() print(table.concat(hits, " ")) end)
]])
    assert.are.equal(0, r.exit, r.stderr)
    -- flow 1's tree has V only; flow 2's has U (defined first) then V
    assert.are.equal("1V 1V 1V 2U 2V 2U 2V\n", r.stdout)
  end)
end)
