-- scripts/dpi.lua: alerts on hand-crafted captures (every expected alert
-- worked out by hand in the comments: offset = stream offset just past the
-- match, 0 = the direction's first payload byte), on the corpus against
-- every occurrence in tshark's reassembled streams
-- (../shared/pcaps/expected/<pcap>/streams), the rule file's error paths,
-- a reload (SIGHUP) and an edit while running (mos.watch) with a good and
-- with a bad rule file, and 10,000 rules.
local T = require "mos.testing"

local function rules_file(text)
  local p = T.tmpdir() .. "/r.rules"
  T.write(p, text)
  return p
end

local function cap(pkts)
  local p = T.tmpdir() .. "/c.pcap"
  T.write_pcap(p, pkts)
  return p
end

local function alerts(r)
  local out = {}
  for _, rec in ipairs(r.logs) do if rec._path == "dpi" then out[#out + 1] = rec end end
  return out
end

-- "RESP_PORT SIDE DIR RULE OFFSET" per alert, sorted
local function summary(r)
  local out = {}
  for _, a in ipairs(alerts(r)) do
    out[#out + 1] = string.format("%d %s %s %d %d", a["id.resp_p"], a.side, a.dir, a.rule, a.offset)
  end
  table.sort(out)
  return table.concat(out, ",")
end

local function run(capture, rules, extra)
  local r = T.run({ capture = capture, script = "scripts/dpi.lua", params = { rules = rules }, config = extra })
  return r
end

-- Two connections: A 10.0.0.1:40000 -> 10.0.0.2:80, B 10.0.0.1:40001 -> 10.0.0.2:8080
--   A c2s "GET EV" + "IL x": EVIL at 4..7, past 8 (split over two segments)
--   A s2c "EVIL!": past 4
--   B c2s "EVIL": past 4;  B s2c "..EVIL": past 6
local function two_conns()
  local a = T.conn({ cport = 40000, sport = 80, data = { { "c", "GET EV" }, { "c", "IL x" }, { "s", "EVIL!" } } })
  local b = T.conn({ cport = 40001, sport = 8080, ts = 1700000010, data = { { "c", "EVIL" }, { "s", "..EVIL" } } })
  for _, p in ipairs(b) do a[#a + 1] = p end
  return cap(a)
end

describe("dpi.lua", function()
  it("applies port and direction conditions, across segments", function()
    local rules = rules_file(table.concat({
      "# hand-worked: see two_conns()",
      '1 dir=c2s msg="c2s \\"quoted\\" \\\\" lit EVIL',
      '2 dir=s2c msg="s2c" lit EVIL',
      "",
      '3 port=8080 msg="8080" lit EVIL',
      '  4 port=79-80 dir=s2c msg="80 s2c" re EV[A-Z]L',
      '5 port=81-8079 msg="none" lit EVIL',
      '6 msg="escaped" lit \\x45VIL\r', -- CRLF line end: the CR is dropped
      "   # an indented comment",
    }, "\n") .. "\n")
    local r = run(two_conns(), rules)
    assert.are.equal(0, r.exit, r.stderr)
    assert.are.equal(table.concat({
      "80 cli s2c 2 4", "80 cli s2c 4 4", "80 cli s2c 6 4",
      "80 svr c2s 1 8", "80 svr c2s 6 8",
      "8080 cli s2c 2 6", "8080 cli s2c 3 6", "8080 cli s2c 6 6",
      "8080 svr c2s 1 4", "8080 svr c2s 3 4", "8080 svr c2s 6 4",
    }, ","), summary(r))
    -- the flow fields and message of one alert, and one uid per connection
    local uids = {}
    for _, a in ipairs(alerts(r)) do
      assert.are.equal("10.0.0.1", a["id.orig_h"])
      assert.are.equal("10.0.0.2", a["id.resp_h"])
      assert.are.equal(a["id.resp_p"] == 80 and 40000 or 40001, a["id.orig_p"])
      assert.is_number(a.ts)
      uids[a["id.resp_p"]] = uids[a["id.resp_p"]] or a.uid
      assert.are.equal(uids[a["id.resp_p"]], a.uid)
      if a.rule == 1 then assert.are.equal('c2s "quoted" \\', a.message) end
    end
    assert.are_not.equal(uids[80], uids[8080])
    local total = T.records(r, "dpi total")[1]
    assert.are.same({ 6, 11 }, { total.rules, total.alerts })
  end)

  -- Ground truth: tshark's reassembled streams. Expected alerts are every
  -- occurrence (string.find, plain, overlapping) of each rule's literal in
  -- the direction and for the server port its conditions accept.
  local CORPUS = { "pcapplusplus-four_ipv6_http_streams.pcap", "pcapplusplus-three_http_streams.pcap",
                   "suricata-verify-http-ipv6.pcap", "pcapplusplus-sll.pcap" }
  local RULES = {
    { lit = "HTTP/1." },
    { lit = "\r\n", dir = "c2s", file = "\\r\\n" },
    { lit = "Content-", dir = "s2c", lo = 80, hi = 80 },
    { lit = "e", lo = 1, hi = 79 },
    { lit = "e", lo = 8000, hi = 8000, dir = "c2s" },
    { lit = "Host: ", lo = 8000, hi = 8080 },
  }
  local function rules_text()
    local out = {}
    for i, r in ipairs(RULES) do
      out[#out + 1] = string.format('%d %s%smsg="rule %d" lit %s', 100 + i,
        r.lo and string.format("port=%d-%d ", r.lo, r.hi) or "", r.dir and "dir=" .. r.dir .. " " or "",
        i, r.file or r.lit)
    end
    return table.concat(out, "\n") .. "\n"
  end
  local function expected(dir)
    local out = {}
    for line in T.read(dir .. "/streams.tsv"):gmatch("[^\n]+") do
      local f = {}
      for v in (line .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = v end
      if f[1] ~= "stream" then
        local port = tonumber(f[3]:match(":(%d+)$"))
        for _, d in ipairs({ "c2s", "s2c" }) do
          local bytes = T.read(dir .. "/streams/" .. f[1] .. "." .. d .. ".bin") or ""
          for i, r in ipairs(RULES) do
            if (not r.dir or r.dir == d) and (not r.lo or (port >= r.lo and port <= r.hi)) then
              local at = bytes:find(r.lit, 1, true)
              while at do
                out[#out + 1] = string.format("%s %s %d %d", f[2], d, 100 + i, at - 1 + #r.lit)
                at = bytes:find(r.lit, at + 1, true)
              end
            end
          end
        end
      end
    end
    table.sort(out)
    return out
  end

  it("alerts on every occurrence in tshark's reassembled streams (corpus)", function()
    local pdir = T.shared_dir .. "/pcaps"
    if not T.exists(pdir .. "/INDEX.tsv") then
      pending("corpus not found at " .. pdir)
      return
    end
    local rules = rules_file(rules_text())
    local seen = {}
    for _, name in ipairs(CORPUS) do
      local r = run(pdir .. "/" .. name, rules)
      assert.are.equal(0, r.exit, name .. ": " .. r.stderr)
      local got = {}
      for _, a in ipairs(alerts(r)) do
        local h = a["id.orig_h"]
        if h:find(":", 1, true) then h = "[" .. h .. "]" end
        got[#got + 1] = string.format("%s:%d %s %d %d", h, a["id.orig_p"], a.dir, a.rule, a.offset)
        assert.are.equal(a.dir == "c2s" and "svr" or "cli", a.side)
        seen[a.rule] = true
      end
      table.sort(got)
      local want = expected(pdir .. "/expected/" .. name)
      assert.is_true(#want > 5, name .. ": " .. #want)
      assert.are.same(want, got, name)
    end
    -- every condition let something through somewhere, except port 1-79
    assert.are.same({ [101] = true, [102] = true, [103] = true, [105] = true, [106] = true }, seen)
  end)

  it("refuses to start on a bad rule file, naming FILE:LINE", function()
    local c = cap(T.conn({ data = { { "c", "x" } } }))
    for _, case in ipairs({
      { '1 msg="a" lit x\n# c\n2 msg="b" re GET /[a-z\n', ':3: regex "GET /[a-z": Unterminated' },
      { '1 msg="a" lit x\n\n1 msg="b" lit y\n', ":3: duplicate rule id 1 (line 1)" },
      { "1 lit x\n", ':1: missing msg="TEXT"' },
      { '1 port=99999 msg="a" lit x\n', ":1: port: expected P or P-Q in 0..65535, got 99999" },
      { '1 port=90-80 msg="a" lit x\n', ":1: port: expected P or P-Q" },
      { '1 port=80 port=81 msg="a" lit x\n', ":1: port given twice" },
      { '1 dir=up msg="a" lit x\n', ":1: dir: expected c2s or s2c, got up" },
      { '1 dir=c2s dir=s2c msg="a" lit x\n', ":1: dir given twice" },
      { '1 foo=3 msg="a" lit x\n', ":1: unknown field foo=3" },
      { '1 msg="a lit x\n', ':1: msg: expected "TEXT"' },
      { '1 msg="a" msg="b" lit x\n', ":1: msg given twice" },
      { '1 msg="a" lit a\\qb\n', ":1: bad escape \\q in literal" },
      { 'x msg="a" lit x\n', ":1: expected a rule id" },
      { '1 msg="a" lit \n', ":1: empty pattern" },
      { '1 msg="a" glob x\n', ":1: unknown field glob" },
      { '1 msg="a" literal x\n', ":1: unknown field literal" },
      { '1 msg="a" re\n', ":1: empty pattern" },
      { '1 msg="a"\n', ":1: expected `lit PATTERN` or `re PATTERN`" },
      { "# only comments\n\n", ": no rules" },
    }) do
      local p = rules_file(case[1])
      local r = run(c, p)
      assert.are.equal(2, r.exit, case[1])
      assert.truthy(r.stderr:find(p .. case[2], 1, true), case[1] .. " => " .. r.stderr)
      assert.are.same({}, alerts(r))
    end
    local r = run(c, "/nonexistent/dpi.rules")
    assert.are.equal(2, r.exit)
    assert.truthy(r.stderr:find("dpi: cannot read the rule file: /nonexistent/dpi.rules: No such file", 1, true),
                  r.stderr)
    r = T.run({ capture = c, script = "scripts/dpi.lua" })
    assert.are.equal(2, r.exit)
    assert.truthy(r.stderr:find("give -s rules=FILE", 1, true), r.stderr)
  end)

  -- A wrapper runs dpi.lua, and at the first data packet rewrites the rule
  -- file and reloads dpi.lua at once (what SIGHUP does; the reload takes place
  -- after that packet). Connection (port 80):
  --   c2s "ATTACK-A ATTACK-B" (1st delivery, old rules): A past 8, B past 17
  --   c2s "ATTACK-A ATTACK-B" (2nd delivery, offsets 17..33): A past 25, B past 34
  local WRAPPER = [[
    local mos = require "mos"
    local socket, s = mos.socket, nil -- dpi.lua's socket (a flow goes to one socket)
    mos.socket = function(kind) s = socket(kind); return s end
    assert(loadfile(mos.param.dpi))()
    mos.socket = socket
    local n = 0
    s:on(mos.PKT_IN, mos.HK_RCV, function()
      n = n + 1 -- SYN, SYN/ACK, ACK, then the first data packet
      if n ~= 4 or RELOADED then return end
      RELOADED = true
      local f = assert(io.open(mos.param.rules, "wb"))
      f:write((mos.param.edit:gsub("|", "\n")))
      f:close()
      mos._reload(mos.param.dpi)
    end)
  ]]
  local function reload_run(edit)
    local rules = rules_file('1 msg="A" lit ATTACK-A\n')
    local c = cap(T.conn({ data = { { "c", "ATTACK-A ATTACK-B" }, { "c", "ATTACK-A ATTACK-B" } } }))
    return T.run({ capture = c, script_text = WRAPPER, config = { ["log.level"] = "info" },
                   params = { rules = rules, dpi = T.path("scripts/dpi.lua"), edit = edit } }), rules
  end

  it("a reload applies the edited rules to the bytes that follow", function()
    local r = reload_run('2 msg="B" lit ATTACK-B|')
    assert.are.equal(0, r.exit, r.stderr)
    assert.are.equal(1, #T.records(r, "script reloaded"), r.stderr)
    assert.are.equal("80 svr c2s 1 8,80 svr c2s 2 34", summary(r))
  end)

  it("a reload with a bad rule file keeps the old rules", function()
    local r, rules = reload_run('2 msg="B" lit ATTACK-B|3 msg="C" lit|')
    assert.are.equal(0, r.exit, r.stderr)
    local e = T.records(r, "reload failed, keeping the running script")[1]
    assert.truthy(e and e.error:find(rules .. ":2: ", 1, true), e and e.error or r.stderr)
    assert.are.equal("80 svr c2s 1 25,80 svr c2s 1 8", summary(r))
  end)

  -- mos.watch: the wrapper edits the rule file at the first data packet of
  -- connection 1 (port 80, "ATTACK-A ATTACK-B": A past 8) and waits 0.25 s
  -- of wall time so the loop looks at the file (every 100 ms at most); 20
  -- connections without data follow, then connection 22 (port 81) with
  -- the same bytes: B past 17 (new rules) or A past 8 (old rules kept)
  local EDITOR = [[
    local mos = require "mos"
    local socket, s = mos.socket, nil
    mos.socket = function(kind) s = socket(kind); return s end
    assert(loadfile(mos.param.dpi))()
    mos.socket = socket
    local n = 0
    s:on(mos.PKT_IN, mos.HK_RCV, function()
      n = n + 1
      if n ~= 4 then return end
      local f = assert(io.open(mos.param.rules, "wb"))
      f:write((mos.param.edit:gsub("|", "\n")))
      f:close()
      local t0 = os.clock(); while os.clock() - t0 < 0.25 do end
    end)
  ]]
  local function edit_run(edit)
    local rules = rules_file('1 msg="A" lit ATTACK-A\n')
    local pk = T.conn({ data = { { "c", "ATTACK-A ATTACK-B" } } })
    for k = 1, 20 do
      for _, p in ipairs(T.conn({ cport = 41000 + k, sport = 90, ts = 1700000000 + k })) do pk[#pk + 1] = p end
    end
    for _, p in ipairs(T.conn({ cport = 42000, sport = 81, ts = 1700000030, data = { { "c", "ATTACK-A ATTACK-B" } } })) do
      pk[#pk + 1] = p
    end
    return T.run({ capture = cap(pk), script_text = EDITOR, config = { ["log.level"] = "info" },
                   params = { rules = rules, dpi = T.path("scripts/dpi.lua"), edit = edit } }), rules
  end

  it("an edited rule file is read again while running (mos.watch)", function()
    local r = edit_run('2 msg="B" lit ATTACK-B|')
    assert.are.equal(0, r.exit, r.stderr)
    assert.are.equal(1, #T.records(r, "watched file reloaded"), r.stderr)
    assert.are.equal("80 svr c2s 1 8,81 svr c2s 2 17", summary(r))
  end)

  it("an edited rule file with a bad line is rejected with file:line, the old rules stay", function()
    local r, rules = edit_run('2 msg="B" lit ATTACK-B|3 msg="C" lit|')
    assert.are.equal(0, r.exit, r.stderr)
    local e = T.records(r, "watched file rejected, keeping the running state")[1]
    assert.truthy(e and e.error:find(rules .. ":2: empty pattern", 1, true), e and e.error or r.stderr)
    assert.are.equal("80 svr c2s 1 8,81 svr c2s 1 8", summary(r))
  end)

  it("loads 10,000 rules (9,900 literals, 100 regexes)", function()
    local out = {}
    for i = 1, 9999 do
      if i % 100 == 0 then
        out[i] = string.format('%d port=80 dir=c2s msg="r%d" re (?i)w%dx\\s+y%d=[0-9]+&', i, i, i, i)
      else
        out[i] = string.format('%d msg="r%d" lit needle-%d-%d', i, i, i, i * 7919 % 100003)
      end
    end
    out[10000] = '10000 msg="last" lit EVIL'
    -- the watchdog is off: the compile is one blocking C call whose wall
    -- time depends on the machine's load (no timing is asserted here)
    local r = run(two_conns(), rules_file(table.concat(out, "\n") .. "\n"), { ["lua.handler_timeout"] = 0 })
    assert.are.equal(0, r.exit, r.stderr)
    local total = T.records(r, "dpi total")[1]
    assert.are.same({ 10000, 4 }, { total.rules, total.alerts })
    assert.are.equal("80 cli s2c 10000 4,80 svr c2s 10000 8,8080 cli s2c 10000 6,8080 svr c2s 10000 4", summary(r))
  end)
end)
