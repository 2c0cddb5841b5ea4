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
    assert.are.equal(0, r.exit, r.stderr)
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
    assert.are.equal(0, r.exit, r.stderr)
    assert.are.equal("hits\t0\n", r.stdout)
    assert.are.equal(5, r.stats.counters.handler_errors) -- 5 CONN_NEW_DATA in the capture
    local e = T.records(r, "filter error")[1]
    assert.truthy(e.where:match("script%.lua:2$"), e.where)
  end)

  it("interrupts a handler running past lua.handler_timeout", function()
    local r = T.run({ capture = H.capture(), config = { ["lua.handler_timeout"] = "50ms" }, script_text = [[
      local mos = require "mos"
      local s = mos.socket("stream")
      s:on(mos.CONN_START, mos.HK_SND, function(flow)
        if tonumber(flow.id) == 1 then while true do end end
      end)
      local ends = 0
      s:on(mos.CONN_END, mos.HK_NONE, function() ends = ends + 1 end)
      mos.on_exit(function() print("ends", ends) end)
    ]] })
    assert.are.equal(0, r.exit, r.stderr)
    assert.are.equal("ends\t2\n", r.stdout)
    assert.are.equal(1, r.stats.counters.handler_errors)
    local e = T.records(r, "handler error")[1]
    assert.truthy(e.error:find("handler timed out after 50 ms", 1, true), e.error)
  end)
end)
