-- mos.matcher end to end: scripts/match.lua and small scripts on
-- hand-crafted captures. Every expected (side, id, offset) is counted by
-- hand in the comments: stream offset 0 is a direction's first payload
-- byte, and an offset reported is the one just past the match.
local T = require "mos.testing"

local NEEDLE = "MOSLUA-NEEDLE" -- 13 bytes
local C, S, CP, SP = "10.0.0.1", "10.0.0.2", 40000, 80

local function cap(pkts)
  local d = T.tmpdir()
  T.write_pcap(d .. "/c.pcap", pkts)
  return d .. "/c.pcap"
end

-- packets of one connection by hand: {from "c"|"s", seq, ack, flags, data}
local function conn(list)
  local out, t = {}, 1700000000 * 1e6
  for _, p in ipairs(list) do
    t = t + 1000
    local c = p[1] == "c"
    out[#out + 1] = { src = c and C or S, dst = c and S or C, sport = c and CP or SP, dport = c and SP or CP,
                      seq = p[2], ack = p[3], flags = p[4], data = p[5], ts_us = t }
  end
  return out
end
local SYN, ACK, FIN, PSH = T.SYN, T.ACK, T.FIN, T.PSH

local function matches(r)
  local out = {}
  for _, rec in ipairs(T.records(r, "match")) do
    out[#out + 1] = string.format("%s %d %d", rec.side, rec.id, rec.offset)
  end
  table.sort(out)
  return table.concat(out, ",")
end

local function run_match(capture, params)
  local r = T.run({ capture = capture, script = "scripts/match.lua", params = params })
  assert.are.equal(0, r.exit, r.stderr)
  return r
end

describe("mos.matcher", function()
  it("finds a needle split across segments", function()
    -- client data "xxMOSLUA-NEE" + "DLEyy": the needle is at 2..14, past = 15
    local pk = T.conn({ data = { { "c", "xxMOSLUA-NEE" }, { "c", "DLEyy" } } })
    local r = run_match(cap(pk), { needle = NEEDLE })
    assert.are.equal("svr 1 15", matches(r))
  end)

  it("does not match across a gap, and keeps stream offsets after it", function()
    -- offsets 0..11 "abMOSLUA-NEE", a 5-byte hole 12..16 never sent, then
    -- 17..33 "DLE MOSLUA-NEEDLE": only the second needle (21..33) matches
    local pk = conn({
      { "c", 1000, 0, SYN }, { "s", 5000, 1001, SYN + ACK }, { "c", 1001, 5001, ACK },
      { "c", 1001, 5001, ACK + PSH, "abMOSLUA-NEE" },
      { "c", 1018, 5001, ACK + PSH, "DLE MOSLUA-NEEDLE" },
      { "s", 5001, 1035, ACK }, -- acknowledges past the hole: it is skipped
      { "c", 1035, 5001, FIN + ACK }, { "s", 5001, 1036, FIN + ACK }, { "c", 1036, 5002, ACK },
    })
    local r = run_match(cap(pk), { needle = NEEDLE })
    assert.are.equal("svr 1 34", matches(r))
    assert.are.equal(1, r.stats.counters.reasm_gaps)
  end)

  it("scans retransmitted bytes once", function()
    -- "xxMOSLUA-NEEDLEyy" (needle 2..14, past 15) sent three times, the
    -- last time as two overlapping halves
    local pk = conn({
      { "c", 1000, 0, SYN }, { "s", 5000, 1001, SYN + ACK }, { "c", 1001, 5001, ACK },
      { "c", 1001, 5001, ACK + PSH, "xxMOSLUA-NEEDLEyy" },
      { "c", 1001, 5001, ACK + PSH, "xxMOSLUA-NEEDLEyy" },
      { "c", 1001, 5001, ACK + PSH, "xxMOSLUA-NE" }, { "c", 1008, 5001, ACK + PSH, "-NEEDLEyy" },
      { "s", 5001, 1018, ACK },
      { "c", 1018, 5001, FIN + ACK }, { "s", 5001, 1019, FIN + ACK }, { "c", 1019, 5002, ACK },
    })
    local r = run_match(cap(pk), { needle = NEEDLE })
    assert.are.equal("svr 1 15", matches(r))
    assert.are.equal(3, r.stats.counters.reasm_rexmit, r.stderr)
  end)

  it("matches on both sides, with ids from a pattern file", function()
    -- client sends "GET /a.php MOSLUA-NEEDLE": regex id 7 ends at 10,
    -- needle (line 3, pattern 2) at 11..23, past 24; server answers
    -- "..MOSLUA-NEEDLE": past 15
    local d = T.tmpdir()
    T.write(d .. "/p.txt", "# ids: 7 for the regex, 2 (its position) for the literal\nre:7 GET /[a-z]+\\.php\nlit " .. NEEDLE .. "\n")
    local pk = T.conn({ data = { { "c", "GET /a.php " .. NEEDLE }, { "s", ".." .. NEEDLE } } })
    local r = run_match(cap(pk), { patterns = d .. "/p.txt" })
    assert.are.equal("cli 2 15,svr 2 24,svr 7 10", matches(r))
  end)

  it("takes a table of literals and regexes", function()
    local pk = T.conn({ data = { { "c", "GET /index.php?MOSLUA-NEEDLE" } } })
    local r = T.run({ capture = cap(pk), script_text = [[
      local mos = require "mos"
      local m = mos.matcher{ "MOSLUA-NEEDLE", { regex = "GET /[a-z]+\\.php", id = 7 }, { literal = "?" } }
      local s = mos.socket("stream")
      s:on(mos.CONN_NEW_DATA, function(flow, side)
        for id, offset in m:scan(flow, side) do print(id, offset) end
      end)
    ]] })
    assert.are.equal(0, r.exit, r.stderr)
    -- "GET /index.php" 0..13 -> 14 (id 7); "?" at 14 -> 15 (id 3); needle 15..27 -> 28 (id 1)
    assert.are.equal("7\t14\n3\t15\n1\t28\n", r.stdout)
  end)

  it("scans bytes a handler peeked, and consumes what it scanned", function()
    -- first delivery "ab-NEEDLE" is peeked, then scanned (match past 9);
    -- second delivery "cd-NEEDLE" is scanned (past 18), then peek is empty
    local pk = T.conn({ data = { { "c", "ab-NEEDLE" }, { "c", "cd-NEEDLE" } } })
    local r = T.run({ capture = cap(pk), script_text = [[
      local mos = require "mos"
      local m = mos.matcher{ "NEEDLE" }
      local s = mos.socket("stream")
      local n = 0
      s:on(mos.CONN_NEW_DATA, function(flow, side)
        n = n + 1
        if n == 1 then print("peek", flow:peek(side)) end
        for id, offset in m:scan(flow, side) do print("match", id, offset) end
        if n == 2 then print("peek", "[" .. flow:peek(side) .. "]") end
      end)
    ]] })
    assert.are.equal(0, r.exit, r.stderr)
    assert.are.equal("peek\tab-NEEDLE\nmatch\t1\t9\nmatch\t1\t18\npeek\t[]\n", r.stdout)
  end)

  it("after a reload, the new script's matcher takes over", function()
    -- the old script sees "NEEDLE-1" ("NEEDLE-" at 0..6, past 7) and
    -- reloads; the new one must report the one in "NEEDLE-2" (8..14,
    -- past 15) only, once
    local d = T.tmpdir()
    T.write(d .. "/new.lua", [[
      local mos = require "mos"
      local m = mos.matcher{ "NEEDLE-" }
      local s = mos.socket("stream")
      s:on(mos.CONN_NEW_DATA, function(flow, side)
        for id, offset in m:scan(flow, side) do print("new", id, offset) end
      end)
    ]])
    local pk = T.conn({ data = { { "c", "NEEDLE-1" }, { "c", "NEEDLE-2" } } })
    local r = T.run({ capture = cap(pk), params = { next = d .. "/new.lua" }, script_text = [[
      local mos = require "mos"
      local m = mos.matcher{ "NEEDLE-" }
      local s = mos.socket("stream")
      s:on(mos.CONN_NEW_DATA, function(flow, side)
        for id, offset in m:scan(flow, side) do print("old", id, offset) end
        if not RELOADED then RELOADED = true; assert(mos._reload(mos.param.next)) end
      end)
    ]] })
    assert.are.equal(0, r.exit, r.stderr)
    assert.are.equal("old\t1\t7\nnew\t1\t15\n", r.stdout)
  end)

  it("names the bad line of a pattern file", function()
    local d = T.tmpdir()
    T.write(d .. "/bad.txt", "lit fine\n# a comment\nre GET /[a-z\nlit also fine\n")
    local r = T.run({ capture = cap(T.conn({})), script = "scripts/match.lua",
                      params = { patterns = d .. "/bad.txt" } })
    assert.are.equal(2, r.exit)
    assert.truthy(r.stderr:find(d .. "/bad.txt:3: regex \"GET /[a-z\"", 1, true), r.stderr)
    assert.truthy(r.stderr:find("match.lua:", 1, true), r.stderr) -- blamed on the script's line
  end)

  it("names the bad pattern of a table, and rejects misuse", function()
    for _, case in ipairs({
      { "mos.matcher{ 'ok', { regex = '(' } }", "pattern 2 (regex \"(\")" },
      { "mos.matcher{}", "no patterns" },
      { "mos.matcher{ { literal = 'a', regex = 'b' } }", "exactly one of literal or regex" },
      { "mos.matcher{ { literal = 'a', id = -1 } }", "id must be an integer" },
      { "mos.matcher{ { literl = 'a' } }", "unknown key literl" },
      { "mos.matcher(42)", "expected a table of patterns or a file name" },
      { "mos.matcher('/nonexistent/p.txt')", "/nonexistent/p.txt: No such file" },
    }) do
      local r = T.run({ capture = cap(T.conn({})), script_text = "local mos = require 'mos'\n" .. case[1] .. "\n" })
      assert.are.equal(2, r.exit, case[1])
      assert.truthy(r.stderr:find(case[2], 1, true), case[1] .. ": " .. r.stderr)
      assert.truthy(r.stderr:find("script.lua:2:", 1, true), case[1] .. ": " .. r.stderr)
    end
  end)

  it("refuses to scan a side whose bytes are not buffered", function()
    local pk = T.conn({ data = { { "c", "x" } } })
    local r = T.run({ capture = cap(pk), config = { ["reassembly.server"] = "false" }, script_text = [[
      local mos = require "mos"
      local m = mos.matcher{ "x" }
      local s = mos.socket("stream")
      s:on(mos.CONN_NEW_DATA, function(flow, side) for _ in m:scan(flow, side) do end end)
    ]] })
    assert.are.equal(1, r.exit, r.stderr) -- strict (mos.testing's default): the handler error fails the run
    local e = T.records(r, "handler error")[1]
    assert.truthy(e and e.error:find("script.lua:4: matcher:scan: this side's bytes are not buffered", 1, true),
                  e and e.error or r.stderr)
  end)

  -- Ground truth from tshark: the corpus' reassembled streams
  -- (../shared/pcaps/expected/<pcap>/streams/N.c2s.bin, .s2c.bin). The
  -- expected matches are every occurrence found in those bytes with
  -- string.find (plain, overlapping), end offset = position just past it.
  local CORPUS = { "pcapplusplus-four_ipv6_http_streams.pcap", "pcapplusplus-three_http_streams.pcap",
                   "suricata-verify-http-ipv6.pcap", "pcapplusplus-sll.pcap" }
  local LITS = { "HTTP/1.", "\r\n", "Content-", "e", "ee" }
  local function expected_for(dir, name)
    local out = {}
    local idx = T.read(dir .. "/streams.tsv")
    for line in idx:gmatch("[^\n]+") do
      local f = {}
      for v in (line .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = v end
      if f[1] ~= "stream" then
        for _, d in ipairs({ "c2s", "s2c" }) do
          local bytes = T.read(dir .. "/streams/" .. f[1] .. "." .. d .. ".bin") or ""
          local side = d == "c2s" and "svr" or "cli"
          for id, lit in ipairs(LITS) do
            local i = bytes:find(lit, 1, true)
            while i do
              out[#out + 1] = string.format("%s %s %d %d", f[2], side, id, i - 1 + #lit)
              i = bytes:find(lit, i + 1, true)
            end
          end
        end
      end
    end
    table.sort(out)
    return out
  end

  it("finds what tshark's reassembled streams hold (corpus)", function()
    local pdir = T.shared_dir .. "/pcaps"
    if not T.exists(pdir .. "/INDEX.tsv") then
      pending("corpus not found at " .. pdir)
      return
    end
    local script = [[
      local mos = require "mos"
      local m = mos.matcher{ "HTTP/1.", "\r\n", "Content-", "e", "ee" }
      local s = mos.socket("stream")
      local function scan(flow, side)
        for id, offset in m:scan(flow, side) do
          print(string.format("%s %s %d %d", flow.client, side == mos.SIDE_SVR and "svr" or "cli", id, offset))
        end
      end
      s:on(mos.CONN_NEW_DATA, scan)
      s:on(mos.CONN_END, mos.HK_NONE, function(flow) scan(flow, 0); scan(flow, 1) end)
    ]]
    for _, name in ipairs(CORPUS) do
      local r = T.run({ capture = pdir .. "/" .. name, script_text = script })
      assert.are.equal(0, r.exit, name .. ": " .. r.stderr)
      local got = {}
      for line in r.stdout:gmatch("[^\n]+") do got[#got + 1] = line end
      table.sort(got)
      local want = expected_for(pdir .. "/expected/" .. name, name)
      assert.is_true(#want > 10, name .. ": " .. #want)
      assert.are.same(want, got, name)
    end
  end)
end)
