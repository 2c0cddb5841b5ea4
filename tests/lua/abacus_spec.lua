-- scripts/abacus.lua: accounting and tunneling on hand-worked captures
-- (ordinary retransmission, different bytes at the same sequence number,
-- a keep-alive), subscriber matching (client or server side, prefixes not
-- on a byte boundary, IPv6), the subscribers file's errors, and the corpus:
-- tshark's per-direction stream bytes (expected/*/streams.tsv) and the
-- suricata-verify capture where the client resends different bytes.
local T = require "mos.testing"

local S, A, P = T.SYN, T.ACK, T.PSH

-- client 10.0.0.1:40000, server 10.0.0.2:80; ISNs 100 / 500; 1 ms apart
local function capture(pkts)
  local out, t = {}, 1700000000 * 1e6
  for _, x in ipairs(pkts) do
    t = t + 1000
    local c = x[1] == "c"
    out[#out + 1] = { src = c and "10.0.0.1" or "10.0.0.2", dst = c and "10.0.0.2" or "10.0.0.1",
                      sport = c and 40000 or 80, dport = c and 80 or 40000, flags = x[2], seq = x[3],
                      ack = x[4] or 0, data = x[5], ts_us = t }
  end
  local path = T.tmpdir() .. "/a.pcap"
  T.write_pcap(path, out)
  return path
end
local HS = { { "c", S, 100 }, { "s", S + A, 500, 101 }, { "c", A, 101, 501 } }
local function hs(...)
  local l = { HS[1], HS[2], HS[3] }
  for _, x in ipairs({ ... }) do l[#l + 1] = x end
  return l
end

local function subs(text)
  local path = T.tmpdir() .. "/subs.txt"
  T.write(path, text)
  return path
end

local function run(cap, subscribers)
  local r = T.run({ script = "scripts/abacus.lua", capture = cap, params = { subscribers = subscribers } })
  assert.are.equal(0, r.exit, r.stderr)
  local conns, totals = {}, {}
  for _, rec in ipairs(r.logs) do
    if rec._path == "abacus" then conns[#conns + 1] = rec end
    if rec._path == "abacus_subscriber" then totals[#totals + 1] = rec end
  end
  return conns, totals
end

local function row(rec) return { rec.subscriber, rec.sub_rx_bytes, rec.sub_tx_bytes, rec.rexmit, rec.tunneling } end

describe("abacus.lua", function()
  local SUBS = subs("# the lab\n\n10.0.0.0/24   # clients\n2001:db8::/32\n")

  it("charges a retransmitted download once and reports no tunneling", function()
    local conns, totals = run(capture(hs({ "s", A + P, 501, 101, "hello" }, { "s", A + P, 501, 101, "hello" },
      { "c", A, 101, 506 })), SUBS)
    assert.are.same({ { "10.0.0.1", 5, 0, 1, false } }, { row(conns[1]) })
    assert.are.same({ { "10.0.0.1", 1, 5, 0, 0 } },
      { { totals[1].subscriber, totals[1].conns, totals[1].rx_bytes, totals[1].tx_bytes, totals[1].tunneling_conns } })
  end)

  it("reports tunneling when a retransmission carries different bytes", function()
    local conns = run(capture(hs({ "c", A + P, 101, 501, "GOOD" }, { "c", A + P, 101, 501, "EVIL" },
      { "s", A, 501, 105 })), SUBS)
    assert.are.same({ { "10.0.0.1", 0, 4, 1, true } }, { row(conns[1]) })
  end)

  it("does not take a keep-alive for tunneling", function()
    -- after "abc" is acknowledged, a keep-alive resends its last byte's sequence number with "\0"
    local conns = run(capture(hs({ "c", A + P, 101, 501, "abc" }, { "s", A, 501, 104 },
      { "c", A, 103, 501, "\0" }, { "s", A, 501, 104 })), SUBS)
    assert.are.same({ { "10.0.0.1", 0, 3, 0, false } }, { row(conns[1]) })
  end)

  it("charges the server side when only it is a subscriber, and skips other connections", function()
    local cap = capture(hs({ "c", A + P, 101, 501, "up" }, { "s", A + P, 501, 103, "down" }, { "c", A, 103, 505 }))
    -- 10.0.0.2/31 covers .2 and .3, not the client .1
    assert.are.same({ { "10.0.0.2", 2, 4, 0, false } }, { row(run(cap, subs("10.0.0.2/31\n"))[1]) })
    -- 10.0.0.0/31 covers .0 and .1: the client
    assert.are.same({ { "10.0.0.1", 4, 2, 0, false } }, { row(run(cap, subs("10.0.0.0/31\n"))[1]) })
    local conns, totals = run(cap, subs("192.168.0.0/16\n10.0.1.1\n"))
    assert.are.same({ {}, {} }, { conns, totals })
  end)

  it("rejects a bad subscribers file with file and line", function()
    local cap = capture(HS)
    for _, c in ipairs({ { "10.0.0.0/24\n\n10.0.0.300/24\n", ":3: not an IPv4/IPv6 address or CIDR: 10.0.0.300/24" },
                         { "10.0.0.0/33\n", ":1: not an IPv4/IPv6 address or CIDR" },
                         { "2001:db8::1::2\n", ":1: not an IPv4/IPv6" } }) do
      local path = subs(c[1])
      local r = T.run({ script = "scripts/abacus.lua", capture = cap, params = { subscribers = path } })
      assert.are.equal(2, r.exit)
      assert.is_truthy(r.stderr:find(path .. c[2], 1, true), r.stderr)
    end
    local r = T.run({ script = "scripts/abacus.lua", capture = cap })
    assert.are.equal(2, r.exit)
    assert.is_truthy(r.stderr:find("-s subscribers=FILE", 1, true), r.stderr)
    r = T.run({ script = "scripts/abacus.lua", capture = cap, params = { subscribers = "/nonexistent/subs" } })
    assert.are.equal(2, r.exit)
    assert.is_truthy(r.stderr:find("cannot read the subscribers file", 1, true), r.stderr)
  end)

  it("follows an edit of the subscribers file while running, and keeps the list on a bad edit", function()
    local dir = T.tmpdir()
    local function conn(client, t0)
      local out = {}
      for i, x in ipairs({ { true, S, 100, 0 }, { false, S + A, 500, 101 }, { true, A + P, 101, 501, "abc" } }) do
        out[i] = { src = x[1] and client or "10.0.0.2", dst = x[1] and "10.0.0.2" or client, sport = x[1] and 40000 or 80,
                   dport = x[1] and 80 or 40000, flags = x[2], seq = x[3], ack = x[4], data = x[5], ts = t0 + i }
      end
      return out
    end
    T.write_pcap(dir .. "/a.pcap", conn("10.0.0.1", 1700000000))
    T.write_pcap(dir .. "/b.pcap", conn("10.0.0.3", 1700000010))
    T.write_pcap(dir .. "/c.pcap", conn("10.0.0.5", 1700000020))
    T.write(dir .. "/subs", "10.0.0.1\n")
    -- a.pcap, then the list becomes 10.0.0.3: b.pcap; then a bad list: c.pcap (10.0.0.5 is in neither)
    T.write(dir .. "/run.sh", table.concat({
      "set -u; cd " .. T.quote(dir) .. "; mkfifo in; tail -c +25 b.pcap > b.body; tail -c +25 c.pcap > c.body",
      T.quote(T.binary) .. " -r in -c log.file=log -s subscribers=subs " .. T.quote(T.path("scripts/abacus.lua")) .. " 2> err & pid=$!",
      "exec 3> in; cat a.pcap >&3; sleep 1; printf '10.0.0.3\\n' > subs; sleep 1; cat b.body >&3",
      "sleep 1; printf '10.0.0.5\\nnot-an-address\\n' > subs; sleep 1; cat c.body >&3; exec 3>&-",
      "wait $pid; echo $? > rc" }, "\n"))
    os.execute("timeout 30 bash " .. T.quote(dir .. "/run.sh"))
    assert.are.equal("0", (T.read(dir .. "/rc") or ""):match("%d+"), T.read(dir .. "/err"))
    local subs_seen, rejected = {}, false
    for _, rec in ipairs(T.decode_lines(T.read(dir .. "/log"))) do
      if rec._path == "abacus" then subs_seen[#subs_seen + 1] = rec.subscriber end
      if rec.msg and rec.msg:match("rejected") and tostring(rec.error):match("subs:2: not an IPv4/IPv6") then rejected = true end
    end
    table.sort(subs_seen)
    assert.are.same({ "10.0.0.1", "10.0.0.3" }, subs_seen)
    assert.is_true(rejected)
  end)

  it("flags the corpus capture whose client resends different bytes", function()
    local cap = T.pcap("suricata-verify-eve-overlap-payload-01.pcap")
    if not T.exists(cap) then pending("corpus capture absent") return end
    -- tshark: 1.1.1.1 -> 2.2.2.2:8080, 4 bytes client to server, none back
    local conns = run(cap, subs("1.1.1.1\n"))
    assert.are.same({ { "1.1.1.1", 0, 4, 1, true } }, { row(conns[1]) })
  end)

  it("matches tshark's stream bytes per direction for IPv6 subscribers", function()
    local name = "pcapplusplus-four_ipv6_http_streams.pcap"
    local tsv = T.read(T.shared_dir .. "/pcaps/expected/" .. name .. "/streams.tsv")
    if not tsv then pending("corpus ground truth absent") return end
    local want = {}
    for l in tsv:gmatch("[^\n]+") do
      local f = {}
      for x in (l .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = x end
      if f[1] ~= "stream" then -- client subscribes: it receives s2c, sends c2s
        want[#want + 1] = { f[2]:match("%]:(%d+)$"), tonumber(f[9]), tonumber(f[6]), false }
      end
    end
    local conns = run(T.pcap(name), subs("2001:618:400::/40\n"))
    local got = {}
    for i, c in ipairs(conns) do got[i] = { tostring(c["id.orig_p"]), c.sub_rx_bytes, c.sub_tx_bytes, c.tunneling } end
    table.sort(want, function(a, b) return a[1] < b[1] end)
    table.sort(got, function(a, b) return a[1] < b[1] end)
    assert.is_true(#want > 0)
    assert.are.same(want, got)
  end)
end)
