-- Hot reload (mos._reload is what SIGHUP and --watch trigger): a good reload
-- keeps flows and their ctx and switches the socket registrations, a bad one
-- keeps the old script.
local T = require "mos.testing"
package.path = T.source_dir .. "/tests/lua/?.lua;" .. package.path
local H = require "helpers"

local OLD = [[
  local mos = require "mos"
  local s = mos.socket("stream")
  s:on(mos.CONN_START, mos.HK_SND, function(flow) flow.ctx.born = "old" end)
  s:on(mos.CONN_NEW_DATA, mos.HK_RCV, function(flow)
    flow:peek(0); flow:peek(1)
    if not RELOADED then RELOADED = true; mos._reload(mos.param.next) end
  end)
  s:on(mos.CONN_END, mos.HK_NONE, function(flow) print("old end", tonumber(flow.id), flow.ctx.born) end)
  mos.on_exit(function() print("old exit") end)
]]

local function write(text)
  local d = T.tmpdir()
  T.write(d .. "/next.lua", text)
  return d .. "/next.lua"
end

describe("reload", function()
  it("switches handlers and keeps flows and ctx", function()
    local nxt = write([[
      local mos = require "mos"
      local s = mos.socket("stream")
      s:on(mos.CONN_START, mos.HK_SND, function(flow) flow.ctx.born = "new" end)
      s:on(mos.CONN_END, mos.HK_NONE, function(flow) print("new end", tonumber(flow.id), flow.ctx.born) end)
      mos.on_exit(function() print("new exit") end)
    ]])
    local r = T.run({ capture = H.capture(), script_text = OLD, params = { next = nxt },
                      config = { ["log.level"] = "info" } })
    assert.are.equal(0, r.exit, r.stderr)
    -- flow 1 started under the old script (its ctx survives), flow 2 under the new one
    assert.are.equal("new end\t1\told\nnew end\t2\tnew\nnew exit\n", r.stdout)
    assert.are.equal(1, #T.records(r, "script reloaded"))
  end)

  it("keeps the old script when the new one has a syntax error", function()
    local nxt = write("local mos = require 'mos'\nlocal s = mos.socket('stream')\ns:on(\n")
    local r = T.run({ capture = H.capture(), script_text = OLD, params = { next = nxt },
                      config = { ["log.level"] = "info" } })
    assert.are.equal(0, r.exit, r.stderr)
    assert.are.equal("old end\t1\told\nold end\t2\told\nold exit\n", r.stdout)
    local e = T.records(r, "reload failed, keeping the running script")[1]
    assert.truthy(e.error:find("next.lua:4:", 1, true), e.error)
  end)

  it("keeps the old script when the new one fails while loading", function()
    local nxt = write([[
      local mos = require "mos"
      local s = mos.socket("stream")
      s:on(mos.CONN_END, mos.HK_NONE, function(flow) print("new end") end)
      error("refusing to load")
    ]])
    local r = T.run({ capture = H.capture(), script_text = OLD, params = { next = nxt } })
    assert.are.equal(0, r.exit, r.stderr)
    assert.are.equal("old end\t1\told\nold end\t2\told\nold exit\n", r.stdout)
    local e = T.records(r, "reload failed, keeping the running script")[1]
    assert.truthy(e.error:find("next.lua:4: refusing to load", 1, true), e.error)
  end)
end)
