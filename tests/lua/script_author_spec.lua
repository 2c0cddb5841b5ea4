-- What a script author meets (issue 13): timers that can be cancelled and
-- do not outlive a reload, strict mode, the JSON of mos.log, ...
local T = require "mos.testing"
package.path = T.source_dir .. "/tests/lua/?.lua;" .. package.path
local H = require "helpers"

-- ten connections, one a second of packet time
local function spread_capture()
  local dir = T.tmpdir()
  local all = {}
  for k = 0, 9 do
    for _, p in ipairs(T.conn({ client = "10.5.0." .. (k + 1), cport = 41000 + k, ts = 1700000000 + k,
                                data = { { "c", "q" .. k } } })) do
      all[#all + 1] = p
    end
  end
  local path = dir .. "/spread.pcap"
  T.write_pcap(path, all)
  return path, dir
end

describe("mos.timer", function()
  it("returns a handle that cancels, and a reload cancels the old script's timers", function()
    local cap, dir = spread_capture()
    T.write(dir .. "/b.lua", [[
      local mos = require "mos"
      local started = false
      local function tick() mos.log{ msg = "tick", v = "B" }; mos.timer(1, tick) end
      local s = mos.socket("stream")
      s:on(mos.CONN_START, mos.HK_SND, function() if not started then started = true; tick() end end)
    ]])
    local r = T.run{ capture = cap, params = { b = dir .. "/b.lua" }, config = { ["log.level"] = "info" },
      script_text = [[
      local mos = require "mos"
      local h = mos.timer(0.5, function() mos.log{ msg = "cancelled timer fired" } end)
      assert(h:pending())
      assert(h:cancel() == true and not h:pending() and h:cancel() == false)
      local started, reloaded = false, false
      local function tick() mos.log{ msg = "tick", v = "A" }; mos.timer(1, tick) end
      local s = mos.socket("stream")
      s:on(mos.CONN_START, mos.HK_SND, function(flow)
        if not started then started = true; tick() end
        if tonumber(flow.id) == 5 and not reloaded then reloaded = true; mos._reload(mos.param.b) end
      end)
    ]] }
    assert.are.equal(0, r.exit, r.stderr)
    local at
    for i, rec in ipairs(r.logs) do if rec.msg == "script reloaded" then at = i end end
    assert.is_not_nil(at, "no reload")
    local a_before, a_after, b = 0, 0, 0
    for i, rec in ipairs(r.logs) do
      if rec.msg == "tick" and rec.v == "A" then if i < at then a_before = a_before + 1 else a_after = a_after + 1 end end
      if rec.msg == "tick" and rec.v == "B" then b = b + 1 end
      assert.are_not.equal("cancelled timer fired", rec.msg)
    end
    assert.is_true(a_before >= 3, "A ticked " .. a_before .. " times before the reload")
    assert.are.equal(0, a_after)
    assert.is_true(b >= 3, "B ticked " .. b .. " times")
  end)

  it("a failed reload keeps the old timers and drops the rejected script's", function()
    local cap, dir = spread_capture()
    T.write(dir .. "/bad.lua", [[
      local mos = require "mos"
      mos.timer(0, function() mos.log{ msg = "rejected script's timer fired" } end)
      error("refusing to load")
    ]])
    local r = T.run{ capture = cap, params = { b = dir .. "/bad.lua" }, config = { ["log.level"] = "info" },
      script_text = [[
      local mos = require "mos"
      local started, reloaded = false, false
      local function tick() mos.log{ msg = "tick" }; mos.timer(1, tick) end
      local s = mos.socket("stream")
      s:on(mos.CONN_START, mos.HK_SND, function(flow)
        if not started then started = true; tick() end
        if tonumber(flow.id) == 3 and not reloaded then reloaded = true; mos._reload(mos.param.b) end
      end)
    ]] }
    assert.are.equal(0, r.exit, r.stderr)
    assert.are.equal(1, #T.records(r, "reload failed, keeping the running script"))
    assert.are.equal(0, #T.records(r, "rejected script's timer fired"))
    assert.is_true(#T.records(r, "tick") >= 8, "old timer stopped: " .. #T.records(r, "tick"))
  end)
end)

describe("strict mode", function()
  local failing = [[
    local mos = require "mos"
    local s = mos.socket("stream")
    s:on(mos.CONN_START, mos.HK_SND, function() error("boom") end)
  ]]
  it("--strict and lua.strict exit 1 on a handler error; without them the exit is 0", function()
    local off = T.run{ capture = H.capture(), script_text = failing, strict = false }
    assert.are.equal(0, off.exit, off.stderr)
    assert.are.equal(2, off.stats.counters.handler_errors)
    local on = T.run{ capture = H.capture(), script_text = failing, strict = false, args = { "--strict" } }
    assert.are.equal(1, on.exit)
    assert.truthy(on.stderr:find("2 handler errors", 1, true), on.stderr)
    local cfg = T.run{ capture = H.capture(), script_text = failing, strict = false, config = { ["lua.strict"] = "true" } }
    assert.are.equal(1, cfg.exit)
  end)
  it("is what mos.testing runs by default", function()
    local r = T.run{ capture = H.capture(), script_text = failing }
    assert.are.equal(1, r.exit)
    local ok = T.run{ capture = H.capture(), script_text = [[local mos = require "mos"; mos.socket("stream")]] }
    assert.are.equal(0, ok.exit, ok.stderr)
  end)
  it("counts an on_exit error", function()
    local r = T.run{ capture = H.capture(), script_text = [[
      local mos = require "mos"
      mos.on_exit(function() error("late") end)
    ]] }
    assert.are.equal(1, r.exit)
    assert.are.equal(1, r.stats.counters.handler_errors)
  end)
end)

describe("flow:drop() at HK_SND", function()
  it("keeps the packet from the receiver's side offline", function()
    -- every packet dropped as the sender sends it: no receiver ever saw a
    -- SYN, a byte or a FIN, so nothing is delivered and no receiver
    -- moved past its first state; raw sockets still see every packet
    local r = T.run{ capture = H.capture(), script_text = [[
      local mos = require "mos"
      local s = mos.socket("stream")
      local raw = mos.socket("raw")
      local nraw, nrcv = 0, 0
      raw:on(mos.PKT_IN, mos.HK_NONE, function() nraw = nraw + 1 end)
      s:on(mos.PKT_IN, mos.HK_SND, function(flow) flow:drop() end)
      s:on(mos.PKT_IN, mos.HK_RCV, function() nrcv = nrcv + 1 end)
      s:on(mos.CONN_END, mos.HK_NONE, function(flow)
        local i = flow:info()
        print(i.cli.delivered, i.svr.delivered, i.cli.state, i.svr.state, i.cli.pkts_sent > 0)
      end)
      mos.on_exit(function() print(nraw, nrcv) end)
    ]] }
    assert.are.equal(0, r.exit, r.stderr)
    assert.are.equal(H.npkts, r.stats.counters.pkts_dropped_handler)
    local lines = {}
    for l in r.stdout:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.are.equal(3, #lines)
    for k = 1, 2 do
      local cd, sd, cs, ss, sent = lines[k]:match("^(%d+)\t(%d+)\t(%S+)\t(%S+)\t(%S+)$")
      assert.are.equal("0", cd); assert.are.equal("0", sd)
      assert.are.equal("true", sent)
      -- each side's state moves only by its own sends: neither received
      -- the other's FIN, so neither reached TIME_WAIT or CLOSED
      for _, st in ipairs({ cs, ss }) do
        assert.is_nil(({ TIME_WAIT = 1, CLOSED = 1, ESTABLISHED = 1, CLOSE_WAIT = 1 })[st], lines[k])
      end
    end
    assert.are.equal(H.npkts .. "\t0", lines[3])
  end)
end)

describe("core.vlan_tracking", function()
  -- one connection whose client packets carry VLAN 7 and whose server
  -- packets carry no tag (a router tags one direction only)
  local function one_sided_capture()
    local pk = T.conn({ client = "10.6.0.1", cport = 42000, server = "10.6.0.2", sport = 80, ts = 1700000000,
                        data = { { "c", "ping" }, { "s", "pong" } } })
    for _, p in ipairs(pk) do if p.src == "10.6.0.1" then p.vlan = 7 end end
    local path = T.tmpdir() .. "/onesided.pcap"
    T.write_pcap(path, pk)
    return path
  end
  local script = [[
    local mos = require "mos"
    local s = mos.socket("stream")
    s:on(mos.CONN_END, mos.HK_NONE, function(flow)
      local i = flow:info()
      print(i.cli.bytes_sent, i.svr.bytes_sent, i.handshake)
    end)
  ]]
  it("splits a one-sided VLAN connection by default and keeps it whole with false", function()
    local cap = one_sided_capture()
    local def = T.run{ capture = cap, script_text = script }
    assert.are.equal(0, def.exit, def.stderr)
    assert.are.equal(2, def.stats.counters.flows_created)
    local off = T.run{ capture = cap, script_text = script, config = { ["core.vlan_tracking"] = "false" } }
    assert.are.equal(0, off.exit, off.stderr)
    assert.are.equal(1, off.stats.counters.flows_created)
    assert.are.equal("4\t4\t3way\n", off.stdout)
  end)
  it("keeps suricata-verify-bug-4376.pcap one connection with false", function()
    local cap = T.pcap("suricata-verify-bug-4376.pcap")
    if not T.exists(cap) then pending("capture corpus absent") return end
    local def = T.run{ capture = cap, script_text = script }
    assert.are.equal(2, def.stats.counters.flows_created) -- tests/KNOWN_DIFFERENCES.tsv
    local off = T.run{ capture = cap, script_text = script, config = { ["core.vlan_tracking"] = "false" } }
    assert.are.equal(0, off.exit, off.stderr)
    assert.are.equal(1, off.stats.counters.flows_created)
    -- tshark: tcp.len sums to 135 bytes from the client, 208589 from the server
    local c, s = off.stdout:match("^(%d+)\t(%d+)\t")
    assert.are.equal(135, tonumber(c)); assert.are.equal(208589, tonumber(s))
  end)
end)

describe("JSON of mos.log and mos.json", function()
  it("logs cdata integers and precise numbers exactly, in a stable key order", function()
    local r = T.run{ capture = H.capture(), script_text = [[
      local mos = require "mos"
      local s = mos.socket("stream")
      s:on(mos.CONN_START, mos.HK_SND, function(flow)
        if tonumber(flow.id) == 1 then mos.log{ msg = "conn", id = flow.id } end
      end)
      mos.log({ b = 1, a = "x/y", c = { 3, 2 }, big = 0xffffffffffffffffULL, neg = -5LL,
                t = 1537728271.159812, n = 2^53, f = 0.1 }, { "c", "b" })
      print(mos.json.encode({ t = 1537728271.159812, n = 9007199254740993LL, z = { k = mos.json.null } }))
      print(mos.json.encode({ y = 1, x = 2 }, { "y" }))
      print(mos.json.decode('{"t":1537728271.159812}').t == 1537728271.159812)
      print(mos.json.decode("{bad"))
    ]] }
    assert.are.equal(0, r.exit, r.stderr)
    local raw = T.read(r.dir .. "/log.jsonl")
    -- load time: no packet clock yet, the wall clock stands in
    local ts, rest = raw:match('^{"ts":(%d+),("level":"info","core":0,"c":%[3,2%],"b":1,[^\n]*)\n')
    assert.is_not_nil(ts, raw)
    assert.is_true(math.abs(tonumber(ts) - os.time()) < 600)
    assert.are.equal('"level":"info","core":0,"c":[3,2],"b":1,"a":"x/y","big":18446744073709551615,'
      .. '"f":0.1,"n":9007199254740992,"neg":-5,"t":1537728271.159812}', rest)
    assert.truthy(raw:find('{"ts":1700000000.001000,"level":"info","core":0,"msg":"conn","id":1}\n', 1, true), raw)
    local out = {}
    for l in r.stdout:gmatch("[^\n]+") do out[#out + 1] = l end
    assert.are.equal('{"n":9007199254740993,"t":1537728271.159812,"z":{"k":null}}', out[1])
    assert.are.equal('{"y":1,"x":2}', out[2])
    assert.are.equal("true", out[3])
    assert.truthy(out[4]:match("^nil\t.+"), out[4])
  end)

  it("names the script line of an unencodable record and raises at the caller in encode", function()
    local r = T.run{ capture = H.capture(), script_text = [[
      local mos = require "mos"
      mos.log{ msg = "bad", f = print }
      mos.log{ msg = "nan", x = 0/0 }
      local ok, err = pcall(function() local s = mos.json.encode({ a = { b = print } }); return s end)
      print(err)
    ]] }
    assert.are.equal(0, r.exit, r.stderr)
    local recs = T.records(r, "unencodable log record")
    assert.are.equal(2, #recs)
    assert.truthy(recs[1].where:match("script%.lua:2$"), recs[1].where)
    assert.truthy(recs[1].error:find("cannot encode a function at $.f", 1, true), recs[1].error)
    assert.truthy(recs[2].where:match("script%.lua:3$"), recs[2].where)
    assert.truthy(r.stdout:find("script.lua:4: mos.json.encode: cannot encode a function at $.a.b", 1, true), r.stdout)
  end)
end)

describe("whole-run hooks", function()
  -- an on_finish that works for 0.4 s (interpreted: a loop of C calls)
  local slow = [[
    local mos = require "mos"
    mos.socket("stream")
    mos.on_finish(function()
      local t0 = os.clock()
      while os.clock() - t0 < 0.4 do end
      print("finished")
    end)
  ]]
  it("are not cut by lua.handler_timeout", function()
    local r = T.run{ capture = H.capture(), script_text = slow, config = { ["lua.handler_timeout"] = "50ms" } }
    assert.are.equal(0, r.exit, r.stderr)
    assert.are.equal("finished\n", r.stdout)
  end)
  it("are bounded by lua.finish_timeout", function()
    local r = T.run{ capture = H.capture(), script_text = slow, strict = false,
                     config = { ["lua.finish_timeout"] = "100ms" } }
    assert.truthy(r.stderr:find("lua.finish_timeout = 100 ms", 1, true), r.stderr)
    if r.exit ~= 3 then -- interrupted (not compiled): the error names the bound
      assert.are.equal(1, r.exit, r.stderr)
      assert.are.equal("", r.stdout)
      local e = T.records(r, "on_finish error")[1]
      assert.truthy(e and e.error:find("on_finish function timed out after 100 ms", 1, true))
    end
  end)
end)

describe("packets a checksum policy drops", function()
  -- two connections; every packet of the second has a broken TCP checksum
  local function capture()
    local pk = T.conn({ client = "10.7.0.1", cport = 43000, ts = 1700000000, data = { { "c", "ok" } } })
    local bad = T.conn({ client = "10.7.0.2", cport = 43001, ts = 1700000001, data = { { "c", "bad" } } })
    local n = #bad
    for _, p in ipairs(bad) do p.bad_tcp_checksum = true; pk[#pk + 1] = p end
    local path = T.tmpdir() .. "/csum.pcap"
    T.write_pcap(path, pk)
    return path, #pk, n
  end
  local script = [[
    local mos = require "mos"
    local raw = mos.socket("raw")
    raw:on(mos.ORPHAN, mos.HK_NONE, function(flow, side, ev, arg)
      local p = mos.packet()
      print(arg == mos.ORPHAN_BAD_TCP_CHECKSUM, p.src, p.sport, p.dst, p.dport, p.flags, p.payload)
    end)
  ]]
  it("are said at the end of the run and reach ORPHAN handlers with the reason", function()
    local cap, total, nbad = capture()
    local r = T.run{ capture = cap, script_text = script }
    assert.are.equal(0, r.exit, r.stderr)
    assert.are.equal(nbad, r.stats.counters.drop_tcp_bad_checksum)
    local pct = string.format("%.1f%%", 100 * nbad / total)
    assert.truthy(r.stderr:find(string.format("warning: %d of %d packets (%s) were dropped for bad checksums",
      nbad, total, pct), 1, true), r.stderr)
    assert.truthy(r.stderr:find("-c core.checksum=ignore keeps them", 1, true), r.stderr)
    local lines = {}
    for l in r.stdout:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.are.equal(nbad, #lines)
    assert.are.equal("true\t10.7.0.2\t43001\t10.0.0.2\t80\t2\t", lines[1]) -- the SYN
    assert.are.equal(nbad, r.stats.counters.ev_orphan)
    assert.are.equal(0, r.stats.counters.pkts_orphan)
    local data = 0
    for _, l in ipairs(lines) do if l:match("\tbad$") then data = data + 1 end end
    assert.are.equal(1, data)
    -- -q: errors only
    local q = T.run{ capture = cap, script_text = script, args = { "-q" } }
    assert.falsy(q.stderr:find("bad checksums", 1, true), q.stderr)
    -- the whole corpus capture whose packets all have bad IP checksums
    local sv = T.pcap("suricata-verify-tcp-rst-unacked-stream-11.pcap")
    if T.exists(sv) then
      local w = T.run{ capture = sv, script = "scripts/flowlog.lua" }
      assert.are.equal(0, w.exit)
      assert.truthy(w.stderr:find("warning: 30 of 30 packets (100.0%) were dropped for bad checksums (IP 30, TCP 0)",
        1, true), w.stderr)
    end
  end)
end)

describe("--pace", function()
  -- three connections spread over 0.4 s of packet time
  local function capture()
    local all = {}
    for k = 0, 2 do
      for _, p in ipairs(T.conn({ client = "10.8.0." .. (k + 1), cport = 44000 + k, ts = 1700000000 + k * 0.2 })) do
        all[#all + 1] = p
      end
    end
    local path = T.tmpdir() .. "/paced.pcap"
    T.write_pcap(path, all)
    return path, #all
  end
  local script = [[
    local ffi = require "ffi"
    local mos = require "mos"
    local raw = mos.socket("raw")
    local w0, t0
    raw:on(mos.PKT_IN, mos.HK_NONE, function()
      local w, t = tonumber(ffi.C.mos_clock_mono_ns()) / 1e9, mos.now()
      if not w0 then w0, t0 = w, t end
      print(string.format("%.6f %.6f", t - t0, w - w0))
    end)
  ]]
  it("hands every packet out no earlier than its capture offset / speed", function()
    local cap, n = capture()
    for _, speed in ipairs({ 1, 4 }) do
      local r = T.run{ capture = cap, script_text = script, args = { "--pace", tostring(speed) } }
      assert.are.equal(0, r.exit, r.stderr)
      local k = 0
      for t, w in r.stdout:gmatch("(%S+) (%S+)\n") do
        k = k + 1
        -- w0 is read in the first packet's handler, a little after the pace
        -- started (more on a loaded machine): 50 ms of slack, still far
        -- below the 50..200 ms steps between the connections
        assert.is_true(tonumber(w) >= tonumber(t) / speed - 0.05, t .. " " .. w .. " at speed " .. speed)
      end
      assert.are.equal(n, k)
    end
    local bad = T.run{ capture = cap, script_text = script, args = { "--pace", "0" } }
    assert.are.equal(2, bad.exit)
    assert.truthy(bad.stderr:find("--pace: expected a speed > 0", 1, true), bad.stderr)
  end)
end)

describe("mos.cidr", function()
  it("matches IPv4 and IPv6 addresses and endpoints, longest prefix first", function()
    local r = T.run{ capture = H.capture(), script_text = [[
      local mos = require "mos"
      local s = mos.cidr{ "10.0.0.0/8", "10.0.0.0/31", "192.168.1.7", "2001:db8::/32", "2001:db8:1::/48", "0.0.0.0/0" }
      print(s:match("10.0.0.1"), s:match("10.0.0.2"), s:match("192.168.1.7"), s:match("192.168.1.6"),
            s:match("[2001:db8:1::5]:443"), s:match("2001:db8:2::1"), s:match("2001:dead::1"), s:match("bogus"))
      local v6 = mos.cidr{ "::ffff:0:0/96" }
      print(v6:match("::ffff:1.2.3.4"), v6:match("1.2.3.4"))
      local e = mos.cidr():add("10.0.0.2")
      local hits = {}
      local st = mos.socket("stream")
      st:on(mos.CONN_START, mos.HK_SND, function(flow)
        hits[#hits + 1] = tostring(s:match(flow.client)) .. "/" .. tostring(e:match(flow.server))
      end)
      mos.on_exit(function() print(table.concat(hits, " ")) end)
      local ok, err = pcall(function() local x = mos.cidr{ "10.0.0.0/8", "10.0.0.0/40" }; return x end)
      print(err)
    ]] }
    assert.are.equal(0, r.exit, r.stderr)
    local l = {}
    for line in r.stdout:gmatch("[^\n]+") do l[#l + 1] = line end
    -- 10.0.0.1 is in 10.0.0.0/31 (10.0.0.0-1), 10.0.0.2 only in /8
    assert.are.equal("10.0.0.0/31\t10.0.0.0/8\t192.168.1.7\t0.0.0.0/0\t2001:db8:1::/48\t2001:db8::/32\tnil\tnil", l[1])
    assert.are.equal("::ffff:0:0/96\tnil", l[2])
    assert.truthy(l[3]:match("script%.lua:14: mos.cidr: %[2%] prefix length beyond 32: 10.0.0.0/40$"), l[3])
    -- the capture's clients 10.0.0.1 and 10.0.0.3, servers 10.0.0.2
    assert.are.equal("10.0.0.0/31/10.0.0.2 10.0.0.0/8/10.0.0.2", l[4])
  end)
end)

describe("mos.watch", function()
  -- ten connections to ports 80, 81, ... 89, one a second; a handler edits
  -- the rules file mid-run (as an operator would) and waits long enough
  -- for the loop to look at it
  local function capture()
    local all = {}
    for k = 0, 9 do
      for _, p in ipairs(T.conn({ client = "10.9.0.1", cport = 45000 + k, sport = 80 + k, ts = 1700000000 + k })) do
        all[#all + 1] = p
      end
    end
    local path = T.tmpdir() .. "/watch.pcap"
    T.write_pcap(path, all)
    return path
  end
  local function edit_and_wait(lua_path_expr, text)
    return string.format([[
        local f = assert(io.open(%s, "w")); f:write(%q); f:close()
        local t0 = os.clock(); while os.clock() - t0 < 0.25 do end]], lua_path_expr, text)
  end
  it("calls fn on a change, and a bad file is rejected with file:line while the old rules run", function()
    local dir = T.tmpdir()
    T.write(dir .. "/rules.txt", "block 80\n")
    local r = T.run{ capture = capture(), params = { rules = dir .. "/rules.txt" }, config = { ["log.level"] = "info" },
      script_text = [[
      local mos = require "mos"
      local blocked = {}
      mos.watch(mos.param.rules, function(path)
        local new, n = {}, 0
        for line in io.lines(path) do
          n = n + 1
          local port = line:match("^block (%d+)$")
          if not port then error(path .. ":" .. n .. ": bad rule: " .. line, 0) end
          new[tonumber(port)] = true
        end
        blocked = new
      end)
      local s = mos.socket("stream")
      s:on(mos.CONN_START, mos.HK_SND, function(flow)
        local port = tonumber(flow.server:match(":(%d+)$"))
        mos.log{ msg = "conn", port = port, blocked = blocked[port] or false }
        if port == 82 then ]] .. edit_and_wait("mos.param.rules", "block 80\nblock 84\n") .. [[ end
        if port == 85 then ]] .. edit_and_wait("mos.param.rules", "block 80\nblok 86\n") .. [[ end
      end)
    ]] }
    assert.are.equal(0, r.exit, r.stderr)
    local got = {}
    for _, rec in ipairs(T.records(r, "conn")) do got[#got + 1] = rec.port .. "=" .. tostring(rec.blocked) end
    assert.are.equal("80=true 81=false 82=false 83=false 84=true 85=false 86=false 87=false 88=false 89=false",
      table.concat(got, " "))
    assert.are.equal(1, #T.records(r, "watched file reloaded"))
    local rej = T.records(r, "watched file rejected, keeping the running state")
    assert.are.equal(1, #rej)
    assert.truthy(rej[1].error:find("rules.txt:2: bad rule: blok 86", 1, true), rej[1].error)
  end)

  it("reloads the whole script when a watched file without fn changes", function()
    local dir = T.tmpdir()
    T.write(dir .. "/list.txt", "a\n")
    local r = T.run{ capture = capture(), params = { list = dir .. "/list.txt" }, config = { ["log.level"] = "info" },
      script_text = [[
      local mos = require "mos"
      mos.watch(mos.param.list)
      local first = io.lines(mos.param.list)()
      local s = mos.socket("stream")
      s:on(mos.CONN_START, mos.HK_SND, function(flow)
        local port = tonumber(flow.server:match(":(%d+)$"))
        mos.log{ msg = "conn", port = port, list = first }
        if port == 83 then ]] .. edit_and_wait("mos.param.list", "b\n") .. [[ end
      end)
    ]] }
    assert.are.equal(0, r.exit, r.stderr)
    local got = {}
    for _, rec in ipairs(T.records(r, "conn")) do got[#got + 1] = rec.list end
    assert.are.equal("aaaabbbbbb", table.concat(got))
    assert.are.equal(1, #T.records(r, "script reloaded"))
  end)
end)

describe("load-time errors", function()
  it("show the script's own frames only, and name hooks and events", function()
    local r = T.run{ capture = H.capture(), script_text = [[
      local mos = require "mos"
      error("refusing to load")
    ]] }
    assert.are.equal(2, r.exit)
    assert.truthy(r.stderr:match("script%.lua:2: refusing to load\n$"), r.stderr)
    local deep = T.run{ capture = H.capture(), script_text = [[
      local mos = require "mos"
      local function helper() local t = nil; return t.x end
      helper()
    ]] }
    assert.are.equal(2, deep.exit)
    assert.truthy(deep.stderr:find("script.lua:2: in function 'helper'", 1, true), deep.stderr)
    assert.falsy(deep.stderr:find("runtime.lua", 1, true), deep.stderr)
    assert.falsy(deep.stderr:find("xpcall", 1, true), deep.stderr)
    local hook = T.run{ capture = H.capture(), script_text = [[
      local mos = require "mos"
      mos.socket("stream"):on(mos.CONN_START, mos.HK_NONE, function() end)
    ]] }
    assert.are.equal(2, hook.exit)
    assert.truthy(hook.stderr:find("script.lua:2: socket:on: hook HK_NONE is not valid for event CONN_START", 1, true),
      hook.stderr)
  end)
end)

describe("timers set at load", function()
  it("fire at their packet time, counted from the first packet", function()
    -- the capture's packets span 1700000000.001 .. 1700000001.010
    local r = T.run{ capture = H.capture(), script_text = [[
      local mos = require "mos"
      mos.timer(0, function() print(string.format("t0 %.6f", mos.now())) end)
      mos.timer(0.5, function() print(string.format("t1 %.6f", mos.now())) end)
      mos.socket("stream")
    ]] }
    assert.are.equal(0, r.exit, r.stderr)
    -- a timer fires at the first packet whose time reaches it
    assert.are.equal("t0 1700000000.001000\nt1 1700000001.001000\n", r.stdout)
  end)
end)

describe("lua/README.md's field tables", function()
  -- rows "| `key` | `ffi`, `fields` | meaning |" between "<!-- fields NAME -->" and "<!-- end -->"
  local function table_of(readme, name)
    local body = readme:match("<!%-%- fields " .. name:gsub("%p", "%%%0") .. " %-%->\n(.-)<!%-%- end %-%->")
    assert.is_not_nil(body, "no table " .. name)
    local keys, fields = {}, {}
    for line in body:gmatch("[^\n]+") do
      local c1, c2 = line:match("^| (.-) | (.-) |")
      if c1 and c1 ~= "key" and not c1:match("^%-") then
        local key = c1:match("^`([%w_]+)`$")
        if key then keys[#keys + 1] = key end
        for f in c2:gmatch("`([%w_]+)`") do fields[f] = true end
      end
    end
    table.sort(keys)
    return keys, fields
  end
  local function struct_fields(header, name)
    local body = header:match("struct " .. name .. " {\n(.-)\n};")
    assert.is_not_nil(body, "no struct " .. name)
    local out = {}
    for line in body:gmatch("[^\n]+") do
      local f = line:match("^%s*[%w_ ]+[%s%*]+([%w_]+)%[?%d*%]?;")
      if f then out[#out + 1] = f end
    end
    return out
  end
  it("name every field of the FFI structs and every key the functions return", function()
    local readme = T.read(T.source_dir .. "/lua/README.md")
    local header = T.read(T.source_dir .. "/bindings/mos_ffi.h")
    local tables = { ["flow:info"] = "mos_ffi_flow", side = "mos_ffi_side", lastpkt = "mos_ffi_pkt" }
    local documented = {}
    for tname, sname in pairs(tables) do
      local keys, fields = table_of(readme, tname)
      documented[tname] = table.concat(keys, " ")
      local sf = struct_fields(header, sname)
      assert.is_true(#sf >= 10, sname)
      for _, f in ipairs(sf) do assert.is_true(fields[f] == true, sname .. "." .. f .. " missing from the " .. tname .. " table") end
    end
    local r = T.run{ capture = H.capture(), script_text = [[
      local mos = require "mos"
      local function keys(t) local k = {} for n in pairs(t) do k[#k + 1] = n end table.sort(k) return table.concat(k, " ") end
      local s = mos.socket("stream")
      local done = false
      s:on(mos.PKT_IN, mos.HK_RCV, function(flow)
        if done then return end
        done = true
        local i = flow:info()
        print(keys(i)); print(keys(i.cli)); print(keys(flow:lastpkt())); print(keys(mos.packet()))
      end)
    ]] }
    assert.are.equal(0, r.exit, r.stderr)
    local l = {}
    for line in r.stdout:gmatch("[^\n]+") do l[#l + 1] = line end
    assert.are.equal(documented["flow:info"], l[1])
    assert.are.equal(documented.side, l[2])
    assert.are.equal(documented.lastpkt, l[3])
    assert.are.equal(documented.lastpkt, l[4])
  end)
end)
