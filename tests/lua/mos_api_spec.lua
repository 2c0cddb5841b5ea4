-- The mos module: every method on a hand-crafted capture, and its misuse
-- errors (which must name the script's own line).
local T = require "mos.testing"
package.path = T.source_dir .. "/tests/lua/?.lua;" .. package.path
local H = require "helpers"

local function run(text, extra)
  local o = extra or {}
  o.script_text = text
  o.capture = o.capture or H.capture()
  return T.run(o)
end

describe("mos module", function()
  it("exposes constants", function()
    local r = run([[
      local mos = require "mos"
      print(mos.PKT_IN, mos.CONN_START, mos.CONN_NEW_DATA, mos.CONN_END, mos.TCP_STATE_CHANGE,
            mos.REXMIT, mos.REXMIT_INCONSISTENT, mos.GAP, mos.ORPHAN, mos.ERROR,
            mos.HK_SND, mos.HK_RCV, mos.HK_NONE, mos.SIDE_CLI, mos.SIDE_SVR,
            mos.ESTABLISHED, mos.TIME_WAIT, mos.STATES[0], mos.core_id)
    ]], { args = { "--check" } })
    assert.are.equal(0, r.exit)
    assert.are.equal("0\t1\t2\t3\t4\t5\t6\t7\t8\t9\t0\t1\t2\t0\t1\t4\t10\tCLOSED\t0\n", r.stdout)
  end)

  it("passes -s parameters in mos.param", function()
    local r = run([[local mos = require "mos"; print(mos.param.a, mos.param.b)]],
      { params = { a = "1", b = "x=y" }, args = { "--check" } })
    assert.are.equal("1\tx=y\n", r.stdout)
  end)

  it("keeps flow.ctx per flow: fresh in a reused slot, freed at the flow's end", function()
    -- 12 connections one after the other, each 3 + 4 + 3 = 10 packets: each
    -- closes (FIN/FIN) before the next starts and ends when the next one's
    -- first packet moves the clock past TIME_WAIT (the two can share a
    -- batch, hence at most 2 live), so the flow table hands the same slot
    -- out again and again
    local dir = T.tmpdir()
    local pk = {}
    for i = 1, 12 do
      for _, p in ipairs(T.conn({ client = "10.0.1." .. i, cport = 41000 + i, ts = 1700000000 + i,
                                  data = { { "c", "x" }, { "s", "y" } } })) do
        pk[#pk + 1] = p
      end
    end
    T.write_pcap(dir .. "/seq.pcap", pk)
    local r = run([[
      local mos = require "mos"
      local R = require "mos.runtime"
      local s = mos.socket("stream")
      local bad, live_max, uses = 0, 0, {}
      s:on(mos.CONN_START, mos.HK_SND, function(flow)
        if next(flow.ctx) ~= nil then bad = bad + 1 end
        flow.ctx.id = tonumber(flow.id)
        uses[flow.slot] = (uses[flow.slot] or 0) + 1
      end)
      s:on(mos.PKT_IN, mos.HK_SND, function(flow)
        local c = flow.ctx
        if c.id ~= tonumber(flow.id) then bad = bad + 1 end
        c.n = (c.n or 0) + 1
        live_max = math.max(live_max, R.ctx_count())
      end)
      s:on(mos.CONN_END, mos.HK_NONE, function(flow) io.write(flow.ctx.n, " ") end)
      mos.on_exit(function()
        local most = 0
        for _, n in pairs(uses) do most = math.max(most, n) end
        print("\nbad", bad, "live_max<=2", live_max <= 2, "live_at_exit", R.ctx_count(), "slot_reused", most > 1)
      end)
    ]], { capture = dir .. "/seq.pcap" })
    assert.are.equal(0, r.exit, r.stderr)
    assert.are.equal(string.rep("10 ", 12) .. "\nbad\t0\tlive_max<=2\ttrue\tlive_at_exit\t0\tslot_reused\ttrue\n",
      r.stdout)
  end)

  it("peeks each direction's bytes, consuming them", function()
    local r = run([[
      local mos = require "mos"
      local s = mos.socket("stream")
      s:on(mos.CONN_NEW_DATA, mos.HK_RCV, function(flow)
        local c = flow.ctx
        c.c2s = (c.c2s or "") .. flow:peek(mos.SIDE_SVR)
        c.s2c = (c.s2c or "") .. flow:peek(mos.SIDE_CLI)
        assert(flow:peek(mos.SIDE_SVR) == "")
      end)
      s:on(mos.CONN_END, mos.HK_NONE, function(flow)
        local function esc(x) return (x:gsub("\r", "<CR>"):gsub("\n", "<LF>")) end
        print(tonumber(flow.id), flow.client, flow.server, esc(flow.ctx.c2s), esc(flow.ctx.s2c))
      end)
    ]])
    assert.are.equal(0, r.exit, r.stderr)
    assert.are.equal(
      '1\t10.0.0.1:40000\t10.0.0.2:80\thello world\tHTTP/1.0 200 OK<CR><LF><CR><LF>\n' ..
      '2\t10.0.0.3:40001\t10.0.0.2:8080\tGET / HTTP/1.1<CR><LF>Host: x<CR><LF><CR><LF>\tok\n', r.stdout)
  end)

  -- Community IDs (seed 7) worked out with Python's hashlib from the spec's
  -- byte layout; the uid's instance is decoded here from base62.
  it("gives each flow a uid and a Community ID", function()
    local r = run([[
      local mos = require "mos"
      local s = mos.socket("stream")
      s:on(mos.CONN_START, mos.HK_SND, function(flow)
        print(tonumber(flow.id), flow.community_id, flow.uid, flow.uid == flow.uid)
      end)
    ]], { config = { ["core.community_id_seed"] = 7, ["core.instance_id"] = 513 } })
    assert.are.equal(0, r.exit, r.stderr)
    local B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    local want = { "1:xbv65+8FdVJhpohL8vHRh5/+NJ8=", "1:8yDWgZKJu9tW0bJuuDmqYvSYMt4=" }
    local n, uids = 0, {}
    for id, cid, uid, stable in r.stdout:gmatch("(%d+)\t(%S+)\t(%S+)\t(%S+)\n") do
      n = n + 1
      assert.are.equal(want[tonumber(id)], cid)
      assert.are.equal("true", stable)
      assert.are.equal(23, #uid)
      assert.are.equal("C", uid:sub(1, 1))
      -- 22 base62 digits: a 128-bit number, decoded into four 32-bit limbs
      -- (exact in doubles); bits 64..79 are the instance, above it the run
      -- start in ms
      local limb = { 0, 0, 0, 0 }
      for i = 2, 23 do
        local carry = B62:find(uid:sub(i, i), 1, true) - 1
        for k = 4, 1, -1 do
          local cur = limb[k] * 62 + carry
          limb[k] = cur % 2 ^ 32
          carry = math.floor(cur / 2 ^ 32)
        end
      end
      assert.are.equal(513, limb[2] % 65536)
      local run_ms = limb[1] * 65536 + math.floor(limb[2] / 65536)
      assert.is_true(math.abs(run_ms / 1000 - os.time()) < 3600)
      uids[uid] = true
    end
    assert.are.equal(2, n)
    local distinct = 0
    for _ in pairs(uids) do distinct = distinct + 1 end
    assert.are.equal(2, distinct)
  end)

  it("ppeeks without consuming and limits peek length", function()
    local r = run([[
      local mos = require "mos"
      local s = mos.socket("stream")
      s:on(mos.CONN_END, mos.HK_NONE, function(flow)
        if tonumber(flow.id) ~= 1 then return end
        print(flow:ppeek(mos.SIDE_SVR, 6, 5), flow:peek(mos.SIDE_SVR, 5), flow:peek(mos.SIDE_SVR))
      end)
    ]])
    assert.are.equal(0, r.exit, r.stderr)
    assert.are.equal("world\thello\t world\n", r.stdout)
  end)

  it("switches a side's buffering off and back on, as mtcp_setsockopt does", function()
    -- at CONN_START the server's buffer goes off and on again: storage
    -- restarts before any data, so every client byte is readable at the end
    local r = run([[
      local mos = require "mos"
      local s = mos.socket("stream")
      s:on(mos.CONN_START, mos.HK_SND, function(flow)
        flow.ctx.sw = table.concat({ tostring(flow:set("svrbuf", false)), tostring(flow:get("svrbuf")),
                                     tostring(flow:set("svrbuf", true)), tostring(flow:get("svrbuf")) }, " ")
      end)
      s:on(mos.CONN_END, mos.HK_NONE, function(flow)
        print(flow.ctx.sw .. "|" .. flow:peek(mos.SIDE_SVR):gsub("[\r\n]", "~"))
      end)
    ]])
    assert.are.equal(0, r.exit, r.stderr)
    local lines = {}
    for l in r.stdout:gmatch("[^\n]+") do lines[#lines + 1] = l end
    table.sort(lines)
    local want = { "true false true true|" .. H.C2_C2S:gsub("[\r\n]", "~"), "true false true true|" .. H.C1_C2S }
    table.sort(want)
    assert.are.same(want, lines)
  end)

  it("gives the current packet, peers, states and info", function()
    local r = run([[
      local mos = require "mos"
      local s = mos.socket("stream")
      s:on(mos.CONN_START, mos.HK_SND, function(flow, side)
        local p = flow:lastpkt(side)
        print("start", p.src, p.sport, p.dst, p.dport, p.seq, p.flags, p.payload_len, string.format("%.3f", p.ts))
        print("peer", flow:peer(mos.SIDE_CLI))
        print("peer", flow:peer(mos.SIDE_SVR))
      end)
      s:on(mos.CONN_END, mos.HK_NONE, function(flow)
        local i = flow:info()
        print("end", i.id, i.handshake, i.cli.state, i.svr.state, i.svr.delivered, i.cli.delivered,
              i.cli.bytes_sent, i.svr.bytes_sent, flow:state(mos.SIDE_CLI), flow:get("rexmit", mos.SIDE_SVR),
              flow:get("clibuf"), flow:get("overlap"), #flow:gaps(mos.SIDE_SVR))
      end)
    ]])
    assert.are.equal(0, r.exit, r.stderr)
    local lines = {}
    for l in r.stdout:gmatch("[^\n]+") do lines[#lines + 1] = l end
    -- conn 1 SYN: 10.0.0.1:40000 -> 10.0.0.2:80, ISN 1000, flags SYN (2), t0 + 1 ms
    assert.are.equal("start\t10.0.0.1\t40000\t10.0.0.2\t80\t1000\t2\t0\t1700000000.001", lines[1])
    assert.are.equal("peer\t10.0.0.1\t40000", lines[2])
    assert.are.equal("peer\t10.0.0.2\t80", lines[3])
    -- client closed first (FIN, then ACKed the server's FIN): TIME_WAIT; server CLOSED.
    local e1 = lines[7]
    assert.truthy(e1:match("^end\t1\t3way\t"), e1)
    local f = {}
    for x in e1:gmatch("[^\t]+") do f[#f + 1] = x end
    assert.are.same({ "end", "1", "3way" }, { f[1], f[2], f[3] })
    assert.are.equal("TIME_WAIT", f[4])
    assert.are.equal("11", f[6]); assert.are.equal("19", f[7]) -- delivered c2s / s2c
    assert.are.equal("11", f[8]); assert.are.equal("19", f[9]) -- bytes sent
    assert.are.same({ "TIME_WAIT", "0", "true", "first", "0" }, { f[10], f[11], f[12], f[13], f[14] })
  end)

  it("runs per-flow registrations only for that flow", function()
    local r = run([[
      local mos = require "mos"
      local s = mos.socket("stream")
      local function data(flow) print("data", flow.id) ; flow:peek(0); flow:peek(1) end
      s:on(mos.CONN_START, mos.HK_SND, function(flow)
        if tonumber(flow.id) == 2 then flow:on(mos.CONN_NEW_DATA, mos.HK_RCV, data) end
      end)
    ]])
    assert.are.equal(0, r.exit, r.stderr)
    -- conn 2 has two data segments, each a CONN_NEW_DATA
    assert.are.equal("data\t2ULL\ndata\t2ULL\n", r.stdout)
  end)

  it("runs user-defined events through their filter, with its argument", function()
    local r = run([[
      local mos = require "mos"
      local seen = 0
      local GET = mos.define_event(mos.CONN_NEW_DATA, function(flow, side, arg)
        seen = seen + 1
        local d = flow:ppeek(mos.SIDE_SVR, 0, #arg)
        return d == arg
      end, "GET ")
      assert(GET >= 32)
      local s = mos.socket("stream")
      s:on(GET, mos.HK_RCV, function(flow, side, ev) print("get", tonumber(flow.id), ev == GET) end)
      mos.on_exit(function() print("filter runs", seen) end)
    ]])
    assert.are.equal(0, r.exit, r.stderr)
    -- 3 data segments in conn 1, 2 in conn 2: the filter runs 5 times and
    -- matches on both CONN_NEW_DATA of conn 2
    assert.are.equal("get\t2\ttrue\nget\t2\ttrue\nfilter runs\t5\n", r.stdout)
  end)

  it("raises user-defined events explicitly", function()
    local r = run([[
      local mos = require "mos"
      local EV = mos.define_event(mos.CONN_START, function() return false end)
      local s = mos.socket("stream")
      s:on(EV, mos.HK_SND, function(flow, side, ev) print("raised", tonumber(flow.id), side) end)
      s:on(mos.CONN_START, mos.HK_SND, function(flow) mos.raise_event(flow, mos.SIDE_SVR, EV) end)
    ]])
    assert.are.equal(0, r.exit, r.stderr)
    assert.are.equal("raised\t1\t1\nraised\t2\t1\n", r.stdout)
  end)

  it("fires timers on the packet clock", function()
    local r = run([[
      local mos = require "mos"
      local s = mos.socket("stream")
      s:on(mos.CONN_START, mos.HK_SND, function(flow)
        local id, t0 = tonumber(flow.id), mos.now()
        mos.timer(0.0025, function(f) print("timer", id, f and tonumber(f.id), mos.now() - t0 >= 0.0025) end, flow)
      end)
    ]])
    assert.are.equal(0, r.exit, r.stderr)
    assert.are.equal("timer\t1\t1\ttrue\ntimer\t2\t2\ttrue\n", r.stdout)
  end)

  it("logs JSON lines and reports stats", function()
    local r = run([[
      local mos = require "mos"
      local s = mos.socket("stream")
      s:on(mos.PKT_IN, mos.HK_RCV, function() end)
      mos.log("hello %d", 42)
      mos.on_exit(function() local st = mos.stats(); mos.log({msg = "stats", pkts = st.pkts_in, mem = st.lua_mem_kb > 0}) end)
    ]])
    assert.are.equal(0, r.exit, r.stderr)
    assert.are.equal("hello 42", T.records(r, "hello 42")[1].msg)
    local st = T.records(r, "stats")[1]
    H.capture()
    assert.are.equal(H.npkts, st.pkts)
    assert.is_true(st.mem)
    assert.are.equal(H.npkts, r.stats.counters.pkts_in)
    assert.is_true(r.stats.lua_mem_kb > 0)
  end)

  describe("misuse raises at the script's line", function()
    local cases = {
      { "s:on(999, mos.HK_RCV, function() end)", "unknown event" },
      { "s:on(mos.CONN_START, 7, function() end)", "bad hook" },
      { "s:on(mos.CONN_START, mos.HK_NONE, function() end)", "not valid for event CONN_START" },
      { "s:on(mos.CONN_START, mos.HK_SND, 'f')", "handler must be a function" },
      { "s:on('CONN_START', mos.HK_SND, function() end)", "unknown event" },
      { "mos.socket('bogus')", "type must be" },
      { "mos.define_event(12345, function() end)", "unknown base event" },
      { "mos.define_event(mos.CONN_START, 3)", "filter must be a function" },
      { "mos.timer('x', function() end)", "bad delay" },
      { "s:filter{syn = 'not a (valid bpf'}", "socket:filter" },
      { "mos.log(3)", "expected a format string" },
    }
    for _, c in ipairs(cases) do
      it(c[2] .. ": " .. c[1], function()
        local r = run("local mos = require 'mos'\nlocal s = mos.socket('stream')\n" .. c[1] .. "\n",
          { args = { "--check" } })
        assert.are.equal(2, r.exit)
        assert.truthy(r.stderr:find("script.lua:3:", 1, true), r.stderr)
        assert.truthy(r.stderr:find(c[2], 1, true), r.stderr)
      end)
    end

    it("raise_event with a built-in event", function()
      local r = run([[
        local mos = require 'mos'
        local s = mos.socket('stream')
        s:on(mos.CONN_START, mos.HK_SND, function(flow) mos.raise_event(flow, 0, mos.CONN_END) end)
      ]])
      assert.are.equal(1, r.exit) -- strict (mos.testing's default): the run completes, the exit says it had errors
      local e = T.records(r, "handler error")[1]
      assert.truthy(e.error:find("script.lua:3:", 1, true), e.error)
      assert.truthy(e.error:find("not a user-defined event", 1, true), e.error)
    end)

    it("flow methods with a bad side", function()
      local r = run([[
        local mos = require 'mos'
        local s = mos.socket('stream')
        s:on(mos.CONN_START, mos.HK_SND, function(flow) flow:peek(5) end)
      ]])
      local e = T.records(r, "handler error")[1]
      assert.truthy(e.error:find("script.lua:3:", 1, true), e.error)
      assert.truthy(e.error:find("side must be", 1, true), e.error)
    end)
  end)

  describe("the program", function()
    it("--check accepts a good script without input", function()
      local r = T.run({ script = "scripts/flowlog.lua", args = { "--check" } })
      assert.are.equal(0, r.exit, r.stderr)
    end)
    it("--check rejects a syntax error naming file and line", function()
      local r = T.run({ script_text = "local x = \nlocal mos = require 'mos'\n(", args = { "--check" } })
      assert.are.equal(2, r.exit)
      assert.truthy(r.stderr:match("script%.lua:%d+:"), r.stderr)
    end)
    it("exits 1 on an unreadable capture", function()
      local r = T.run({ script = "scripts/flowlog.lua", capture = "/nonexistent.pcap" })
      assert.are.equal(1, r.exit)
      assert.truthy(r.stderr:find("/nonexistent.pcap", 1, true), r.stderr)
    end)
    it("exits 2 on a bad option or config key", function()
      assert.are.equal(2, T.run({ script = "scripts/flowlog.lua", args = { "--bogus" } }).exit)
      local r = T.run({ script = "scripts/flowlog.lua", config = { ["no.such"] = "1" }, args = { "--check" } })
      assert.are.equal(2, r.exit)
    end)
    it("names a live interface that does not exist", function()
      local r = T.run({ script = "scripts/flowlog.lua", args = { "-i", "mosnosuch0" } })
      assert.are_not.equal(0, r.exit)
      assert.truthy(r.stderr:find("mosnosuch0", 1, true), r.stderr)
    end)
  end)
end)

describe("mos.on_signal", function()
  it("accepts USR1 only, and blames the script's line", function()
    local r = T.run({ script_text = 'local mos = require "mos"\nmos.on_signal("USR1", function() end)\nmos.on_signal("HUP", function() end)\n',
                      args = { "--check" } })
    assert.are.equal(2, r.exit)
    assert.is_truthy(r.stderr:match("script%.lua:3: mos%.on_signal: only \"USR1\""), r.stderr)
  end)
end)

-- Issue 10 defect 6: end of input, bytes overwritten and no current packet
-- used to share one code (-ENODATA), so flow:ppeek and flow:rewrite could
-- answer "No data available". Each has its own code and message now, and
-- scripts get the messages from the core (mos_strerror), not copies.
describe("error messages", function()
  it("name what went wrong in ppeek and rewrite", function()
    local dir = T.tmpdir()
    -- one connection, 1800 bytes to the server in three segments: with a
    -- 1024-byte buffer read as it fills, offsets below 1800 - 1024 = 776
    -- are overwritten; the flow ends at shutdown, when no packet is current
    local pk = T.conn({ data = { { "c", string.rep("a", 600) }, { "c", string.rep("b", 600) },
                                 { "c", string.rep("c", 600) } } })
    T.write_pcap(dir .. "/big.pcap", pk)
    local r = run([[
      local mos = require "mos"
      local ffi = require "ffi"
      local s = mos.socket("stream")
      s:on(mos.CONN_NEW_DATA, mos.HK_RCV, function(flow, side) flow:peek(side) end)
      s:on(mos.CONN_END, mos.HK_NONE, function(flow)
        print(flow:ppeek(mos.SIDE_SVR, 0, 4))
        print(flow:ppeek(mos.SIDE_SVR, 775, 2))
        print(flow:ppeek(mos.SIDE_SVR, 776, 2), flow:ppeek(mos.SIDE_SVR, 1199, 2))
        print(#flow:ppeek(mos.SIDE_SVR, 1800, 4))
        print(flow:rewrite(0, 0, "x"))
        print(ffi.string(ffi.C.mos_strerror(ffi.C.MOS_E_EOF)))
      end)
    ]], { capture = dir .. "/big.pcap", config = { ["reassembly.rcvbuf"] = 1024 } })
    assert.are.equal(0, r.exit, r.stderr)
    assert.are.equal(
      "nil\tbytes no longer held: overwritten in the stream buffer\n" ..
      "nil\tbytes no longer held: overwritten in the stream buffer\n" ..
      "bb\tbc\n" ..
      "0\n" ..
      "nil\tno current packet\n" ..
      "end of input\n", r.stdout)
  end)
end)
