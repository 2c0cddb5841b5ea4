-- The shipped scripts, on the hand-crafted capture (expectations worked out
-- by hand in helpers.lua) and on corpus captures against tshark / the
-- corpus ground truth (skipped when absent).
local T = require "mos.testing"
local cjson = require "cjson"
package.path = T.source_dir .. "/tests/lua/?.lua;" .. package.path
local H = require "helpers"

local function sh(cmd)
  local p = io.popen(cmd)
  local out = p:read("*a")
  p:close()
  return out
end
local function sha256(path) return (sh("sha256sum " .. T.quote(path)):match("^(%x+)")) end
local function lines(s) local t = {} for l in s:gmatch("[^\n]+") do t[#t + 1] = l end return t end

local function flowdump(capture)
  local out = T.tmpdir()
  local r = T.run({ script = "scripts/flowdump.lua", capture = capture, params = { out = out } })
  local recs = {}
  for _, l in ipairs(lines(T.read(out .. "/flows.jsonl") or "")) do recs[#recs + 1] = cjson.decode(l) end
  return r, recs, out
end

describe("flowdump.lua", function()
  it("writes the contract on the crafted capture", function()
    local r, recs, out = flowdump(H.capture())
    assert.are.equal(0, r.exit, r.stderr)
    assert.are.equal(2, #recs)
    local a = recs[1]
    assert.are.equal("10.0.0.1:40000", a.client)
    assert.are.equal("10.0.0.2:80", a.server)
    assert.are.same({}, a.vlan)
    assert.are.equal("3way", a.handshake)
    assert.are.equal(1700000000.001, a.first_ts)
    assert.are.equal(1700000000.012, a.last_ts) -- 12th packet, 1 ms apart
    assert.are.equal("TIME_WAIT", a.client_state) -- sent the first FIN and the last ACK
    assert.are.equal("CLOSED", a.server_state)
    assert.are.same({ bytes = 11, file = "000001.c2s", gaps = {}, rexmit = 0, rexmit_inconsistent = 0 }, a.c2s)
    assert.are.same({ bytes = #H.C1_S2C, file = "000001.s2c", gaps = {}, rexmit = 0, rexmit_inconsistent = 0 }, a.s2c)
    assert.are.equal(H.C1_C2S, T.read(out .. "/" .. a.c2s.file))
    assert.are.equal(H.C1_S2C, T.read(out .. "/" .. a.s2c.file))
    local b = recs[2]
    assert.are.equal("10.0.0.3:40001", b.client)
    assert.are.equal(H.C2_C2S, T.read(out .. "/" .. b.c2s.file))
    assert.are.equal(H.C2_S2C, T.read(out .. "/" .. b.s2c.file))
  end)

  for _, name in ipairs({ "pcapplusplus-three_http_streams.pcap", "zeek-wikipedia.pcap" }) do
    it("matches the corpus ground truth on " .. name, function()
      local cap = T.pcap(name)
      local tsv = T.read(T.shared_dir .. "/pcaps/expected/" .. name .. "/streams.tsv")
      if not T.exists(cap) or not tsv then pending("corpus capture " .. name .. " absent") return end
      local r, recs, out = flowdump(cap)
      assert.are.equal(0, r.exit, r.stderr)
      local by = {}
      for _, rec in ipairs(recs) do by[rec.client .. " " .. rec.server] = rec end
      local checked = 0
      for i, l in ipairs(lines(tsv)) do
        local f = {}
        for x in (l .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = x end
        -- columns: stream client server client_rule packets c2s_bytes c2s_sha256 c2s_gap s2c_bytes s2c_sha256 s2c_gap
        if i > 1 and f[4] == "syn" and f[8] == "0" and f[11] == "0" then
          local rec = by[f[2] .. " " .. f[3]]
          assert.is_not_nil(rec, "no record for " .. f[2] .. " -> " .. f[3])
          assert.are.equal(tonumber(f[6]), rec.c2s.bytes)
          assert.are.equal(tonumber(f[9]), rec.s2c.bytes)
          if rec.c2s.bytes > 0 then assert.are.equal(f[7], sha256(out .. "/" .. rec.c2s.file)) end
          if rec.s2c.bytes > 0 then assert.are.equal(f[10], sha256(out .. "/" .. rec.s2c.file)) end
          checked = checked + 1
        end
      end
      assert.is_true(checked > 0)
    end)
  end
end)

describe("flowlog.lua", function()
  it("prints one line per connection", function()
    local r = T.run({ script = "scripts/flowlog.lua", capture = H.capture() })
    assert.are.equal(0, r.exit, r.stderr)
    assert.are.same({
      "10.0.0.1:40000 -> 10.0.0.2:80 cli=TIME_WAIT svr=CLOSED c2s=11 s2c=19 dur=0.011000",
      "10.0.0.3:40001 -> 10.0.0.2:8080 cli=TIME_WAIT svr=CLOSED c2s=" .. #H.C2_C2S .. " s2c=2 dur=0.009000",
    }, lines(r.stdout))
  end)
end)

describe("count.lua", function()
  it("counts packets per flow", function()
    local r = T.run({ script = "scripts/count.lua", capture = H.capture() })
    assert.are.equal(0, r.exit, r.stderr)
    local f = T.records(r, "flow")
    assert.are.equal(12, f[1].pkts) -- 3 handshake + 3 x (data, ack) + 3 teardown
    assert.are.equal(10, f[2].pkts)
    assert.are.equal(22, T.records(r, "total")[1].pkts)
  end)
end)

describe("search.lua", function()
  it("finds the needle in both directions, also across segments", function()
    local r = T.run({ script = "scripts/search.lua", capture = H.capture(), params = { needle = "o w" } })
    assert.are.equal(0, r.exit, r.stderr)
    local m = T.records(r, "match")
    assert.are.equal(1, #m) -- "hello " | "world": split across two segments
    assert.are.equal("c2s", m[1].dir)
    assert.are.equal(4, m[1].offset)
    r = T.run({ script = "scripts/search.lua", capture = H.capture(), params = { needle = "o" } })
    -- "hello world": 2, "HTTP/1.0 200 OK": 0, "GET / HTTP/1.1\r\nHost: x": 1, "ok": 1
    assert.are.equal(4, T.records(r, "total")[1].matches)
  end)
end)

describe("firewall.lua", function()
  it("drops every packet of matching flows", function()
    local r = T.run({ script = "scripts/firewall.lua", capture = H.capture(), params = { rule = "8080" } })
    assert.are.equal(0, r.exit, r.stderr)
    assert.are.equal(10, T.records(r, "total")[1].dropped)
    assert.are.equal("10.0.0.3:40001", T.records(r, "blocked")[1].client)
    r = T.run({ script = "scripts/firewall.lua", capture = H.capture(), params = { rule = "10.0.0.2:80" } })
    assert.are.equal(12, T.records(r, "total")[1].dropped)
  end)
end)

describe("tunneling.lua", function()
  it("reports retransmissions carrying different bytes", function()
    local cap = T.pcap("suricata-verify-eve-overlap-payload-01.pcap")
    if not T.exists(cap) then pending("corpus capture absent") return end
    local r = T.run({ script = "scripts/tunneling.lua", capture = cap })
    assert.are.equal(0, r.exit, r.stderr)
    local recs = T.records(r, "inconsistent_rexmit")
    assert.is_true(#recs >= 1)
    -- the client (1.1.1.1) sent GOOD, then EVIL at the same sequence (tshark: 4 bytes c2s, none s2c)
    for _, rec in ipairs(recs) do assert.are.equal("client", rec.sender) end
    assert.are.equal(1, #T.records(r, "flow"))
  end)
  it("stays quiet on clean traffic", function()
    local r = T.run({ script = "scripts/tunneling.lua", capture = H.capture() })
    assert.are.equal(0, #T.records(r, "inconsistent_rexmit"))
  end)
end)
