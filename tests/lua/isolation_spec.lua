-- Handler and filter errors, and runaway handlers: the run completes, errors
-- are counted (C counter handler_errors) and logged rate-limited with the
-- script location.
local T = require "mos.testing"
package.path = T.source_dir .. "/tests/lua/?.lua;" .. package.path
local H = require "helpers"

describe("error isolation", function()
  it("a handler that always errors does not stop the run", function()
    local r = T.run({ capture = H.capture(), script_text = [[
      local mos = require "mos"
      local s = mos.socket("stream")
      s:on(mos.PKT_IN, mos.HK_RCV, function(flow) error("boom") end)
      local ends = 0
      s:on(mos.CONN_END, mos.HK_NONE, function() ends = ends + 1 end)
      mos.on_exit(function() print("ends", ends) end)
    ]] })
    assert.are.equal(1, r.exit, r.stderr) -- strict (mos.testing's default): the run completes, the exit says it had errors
    assert.are.equal("ends\t2\n", r.stdout)
    -- every packet belongs to a flow: one error per packet
    assert.are.equal(H.npkts, r.stats.counters.handler_errors)
    local errs = T.records(r, "handler error")
    assert.are.equal(10, #errs) -- rate limit: the first 10 of one function
    assert.truthy(errs[1].where:match("script%.lua:3$"), errs[1].where)
    assert.truthy(errs[1].error:find("script.lua:3: boom", 1, true))
    assert.are.equal("PKT_IN", errs[1].event)
    assert.are.equal(1, errs[1].flow)
    assert.are.equal(10, errs[10].count)
  end)

  it("a filter that errors counts as false and is counted", function()
    local r = T.run({ capture = H.capture(), script_text = [[
      local mos = require "mos"
      local EV = mos.define_event(mos.CONN_NEW_DATA, function(flow) return flow.nosuch.field end)
      local s = mos.socket("stream")
      local hits = 0
      s:on(EV, mos.HK_RCV, function() hits = hits + 1 end)
      mos.on_exit(function() print("hits", hits) end)
    ]] })
    assert.are.equal(1, r.exit, r.stderr) -- strict (mos.testing's default): the run completes, the exit says it had errors
    assert.are.equal("hits\t0\n", r.stdout)
    assert.are.equal(5, r.stats.counters.handler_errors) -- 5 CONN_NEW_DATA in the capture
    local e = T.records(r, "filter error")[1]
    assert.truthy(e.where:match("script%.lua:2$"), e.where)
  end)

  -- The watchdog thread (host/watchdog.c) interrupts an interpreted call
  -- with an error raised inside it; jit.off makes the loop interpreted.
  it("interrupts an interpreted handler running past lua.handler_timeout", function()
    local r = T.run({ capture = H.capture(), config = { ["lua.handler_timeout"] = "50ms" }, script_text = [[
      local mos = require "mos"
      local s = mos.socket("stream")
      local function spin() local n = 0 while true do n = n + 1 end end
      jit.off(spin)
      s:on(mos.CONN_START, mos.HK_SND, function(flow)
        if tonumber(flow.id) == 1 then spin() end
      end)
      local ends = 0
      s:on(mos.CONN_END, mos.HK_NONE, function() ends = ends + 1 end)
      mos.on_exit(function() print("ends", ends) end)
    ]] })
    assert.are.equal(1, r.exit, r.stderr) -- strict (mos.testing's default): the run completes, the exit says it had errors
    assert.are.equal("ends\t2\n", r.stdout)
    assert.are.equal(1, r.stats.counters.handler_errors)
    local e = T.records(r, "handler error")[1]
    -- raised inside spin (line 3), counted against the handler (line 5)
    assert.truthy(e.error:find("script.lua:3: handler timed out after 50 ms", 1, true), e.error)
    assert.truthy(e.where:match("script%.lua:5$"), e.where)
    assert.are.equal("CONN_START", e.event)
    assert.are.equal(1, e.flow)
    assert.truthy(r.stderr:find("watchdog: core 0: " .. r.dir .. "/script.lua:5 has been running for", 1, true),
      r.stderr)
  end)

  it("interrupts an interpreted loop of C calls, then the stack goes on", function()
    local r = T.run({ capture = H.capture(), config = { ["lua.handler_timeout"] = "50ms" }, script_text = [[
      local mos = require "mos"
      local s = mos.socket("stream")
      local pkts = 0
      s:on(mos.PKT_IN, mos.HK_RCV, function(flow)
        pkts = pkts + 1
        if pkts == 5 then
          jit.off(true)   -- for this call only: C calls in an interpreted loop
          while true do os.clock() end
        end
      end)
      mos.on_exit(function() print("pkts", pkts) end)
    ]] })
    assert.are.equal(1, r.exit, r.stderr) -- strict (mos.testing's default): the run completes, the exit says it had errors
    assert.are.equal("pkts\t" .. H.npkts .. "\n", r.stdout)
    assert.are.equal(1, r.stats.counters.handler_errors)
    assert.truthy(T.records(r, "handler error")[1].error:find("handler timed out", 1, true))
  end)

  it("exits 3 naming the handler when a compiled loop cannot be interrupted", function()
    local r = T.run({ capture = H.capture(), config = { ["lua.handler_timeout"] = "100ms" }, script_text = [[
      local mos = require "mos"
      local s = mos.socket("stream")
      s:on(mos.PKT_IN, mos.HK_RCV, function(flow)
        print("stuck now"); io.stdout:flush()
        while true do end
      end)
    ]] })
    assert.are.equal(3, r.exit, r.stderr)
    assert.are.equal("stuck now\n", r.stdout)
    local where = r.dir .. "/script.lua:3"
    assert.truthy(r.stderr:find("watchdog: core 0: " .. where .. " has been running for", 1, true), r.stderr)
    assert.truthy(r.stderr:find(where .. " is still running after", 1, true), r.stderr)
    assert.truthy(r.stderr:find("exiting with status 3", 1, true), r.stderr)
    -- the stats are written before exiting
    assert.are.equal(1, r.stats.counters.pkts_in)
  end)

  it("interrupts an endless loop at the script's top level: the script is rejected", function()
    local r = T.run({ config = { ["lua.handler_timeout"] = "50ms" }, args = { "--check" }, script_text = [[
      local mos = require "mos"
      local function spin() while true do end end
      jit.off(spin)
      spin()
    ]] })
    assert.are.equal(2, r.exit, r.stderr)
    assert.truthy(r.stderr:find("top level of " .. r.dir .. "/script.lua", 1, true), r.stderr)
    assert.truthy(r.stderr:find("script.lua:2: handler timed out after 50 ms", 1, true), r.stderr)
  end)

  it("costs nothing when off: lua.handler_timeout = 0 runs without a watchdog", function()
    local r = T.run({ capture = H.capture(), config = { ["lua.handler_timeout"] = "0" }, script_text = [[
      local mos = require "mos"
      local s = mos.socket("stream")
      local n = 0
      s:on(mos.PKT_IN, mos.HK_RCV, function() n = n + 1 end)
      mos.on_exit(function() print(n) end)
    ]] })
    assert.are.equal(0, r.exit, r.stderr)
    assert.are.equal(H.npkts .. "\n", r.stdout)
  end)
end)
