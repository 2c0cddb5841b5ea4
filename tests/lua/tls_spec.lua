-- scripts/tls.lua: a hand-built handshake (a ClientHello across two TLS
-- records and two TCP segments, GREASE values, TLS 1.3 chosen through
-- supported_versions; MD5s by coreutils' md5sum), malformed and non-TLS
-- input, and tshark's tls fields (SNI, version, cipher name, ALPN, ja3,
-- ja3s) on the corpus.
local T = require "mos.testing"

local function sh(cmd)
  local p = io.popen(cmd)
  local out = p:read("*a")
  p:close()
  return out
end
local has_tshark = sh("command -v tshark") ~= ""
local function md5(s) return (sh("printf %s " .. T.quote(s) .. " | md5sum"):match("^(%x+)")) end

local function u16(n) return string.char(math.floor(n / 256), n % 256) end
local function u24(n) return string.char(math.floor(n / 65536), math.floor(n / 256) % 256, n % 256) end
local function ext(t, data) return u16(t) .. u16(#data) .. data end
local function record(data) return "\22\3\1" .. u16(#data) .. data end

local NAME = "example.org"
local CH = "\1" .. (function()
  local body = u16(0x0303) .. string.rep("r", 32) .. "\0" .. u16(6) .. u16(0x0a0a) .. u16(0x1301) .. u16(0xc02f)
    .. "\1\0"
  local exts = ext(0x0a0a, "") .. ext(0, u16(#NAME + 3) .. "\0" .. u16(#NAME) .. NAME)
    .. ext(10, u16(6) .. u16(0x1a1a) .. u16(29) .. u16(23)) .. ext(11, "\1\0")
    .. ext(16, u16(12) .. "\2h2\8http/1.1")
  body = body .. u16(#exts) .. exts
  return u24(#body) .. body
end)()
local SH = "\2" .. (function()
  local body = u16(0x0303) .. string.rep("s", 32) .. "\0" .. u16(0x1301) .. "\0"
  local exts = ext(43, u16(0x0304)) .. ext(16, u16(3) .. "\2h2")
  body = body .. u16(#exts) .. exts
  return u24(#body) .. body
end)()

local function capture(data)
  local path = T.tmpdir() .. "/t.pcap"
  T.write_pcap(path, T.conn({ sport = 443, data = data }))
  return path
end

local function ssl(cap)
  local r = T.run({ script = "scripts/tls.lua", capture = cap })
  assert.are.equal(0, r.exit, r.stderr)
  assert.are.equal(0, r.stats.counters.handler_errors)
  local out = {}
  for _, rec in ipairs(r.logs) do if rec._path == "ssl" then out[#out + 1] = rec end end
  return out
end

describe("tls.lua", function()
  it("reads a ClientHello split across records and segments, and a TLS 1.3 ServerHello", function()
    local wire = record(CH:sub(1, 40)) .. record(CH:sub(41))
    local recs = ssl(capture({ { "c", wire:sub(1, 3) }, { "c", wire:sub(4) }, { "s", record(SH) } }))
    assert.are.equal(1, #recs)
    local r = recs[1]
    assert.are.same({ NAME, "TLSv13", "TLS_AES_128_GCM_SHA256", "h2", md5("771,4865-49199,0-10-11-16,29-23,0"),
                      md5("771,4865,43-16"), "10.0.0.1", 443, 1700000000.001 },
      { r.server_name, r.version, r.cipher, r.next_protocol, r.ja3, r.ja3s, r["id.orig_h"], r["id.resp_p"], r.ts })
  end)

  it("logs a ClientHello never answered at the connection's end", function()
    local recs = ssl(capture({ { "c", record(CH) } }))
    assert.are.same({ { NAME, md5("771,4865-49199,0-10-11-16,29-23,0") } }, { { recs[1].server_name, recs[1].ja3 } })
    assert.is_nil(recs[1].version)
  end)

  it("ignores non-TLS bytes and survives malformed hellos", function()
    assert.are.same({}, ssl(capture({ { "c", "GET / HTTP/1.1\r\n\r\n" }, { "s", "HTTP/1.1 200 OK\r\n\r\n" } })))
    -- the extensions' length claims more than the hello holds: no ja3, no error
    local body = u16(0x0303) .. string.rep("r", 32) .. "\0" .. u16(2) .. u16(0x1301) .. "\1\0" .. u16(500) .. u16(0) .. u16(5000) .. "x"
    local bad = "\1" .. u24(#body) .. body
    local recs = ssl(capture({ { "c", record(bad) }, { "s", record(SH) } }))
    assert.are.equal(1, #recs)
    assert.is_nil(recs[1].ja3)
    assert.are.equal("TLSv13", recs[1].version)
    -- a record header announcing an oversized record: that direction is given up
    assert.are.same({}, ssl(capture({ { "c", "\22\3\1\255\255" .. string.rep("x", 100) } })))
  end)

  for _, name in ipairs({ "suricata-verify-bug-7264-tcp-3whs-ack-data-tls-01.pcap", "suricata-verify-linktype-228.pcap",
                          "suricata-verify-tcp-empty-sack.pcap", "suricata-verify-tcp-fastopen-11-reject-syn-data.pcap",
                          "pcapplusplus-many_interfaces-1.pcapng" }) do
    it("matches tshark's tls fields on " .. name, function()
      local cap = T.pcap(name)
      if not T.exists(cap) then pending("corpus capture absent") return end
      if not has_tshark then pending("tshark missing") return end
      local names = {} -- "0xc02f" -> the cipher suite's name, as tshark prints it
      for n, hex in sh("tshark -r " .. T.quote(cap) .. " -Y tls.handshake.type==2 -V 2>/dev/null"):gmatch("Cipher Suite: (%S+) %((0x%x+)%)") do
        names[hex] = n
      end
      local VER = { ["0x0303"] = "TLSv12", ["0x0304"] = "TLSv13" } -- Zeek's spelling
      local want = {}
      local out = sh("tshark -r " .. T.quote(cap) .. " -Y 'tls.handshake.type==1 || tls.handshake.type==2' -T fields" ..
        " -e tcp.srcport -e tcp.dstport -e tls.handshake.type -e tls.handshake.extensions_server_name -e tls.handshake.ja3" ..
        " -e tls.handshake.ja3s -e tls.handshake.version -e tls.handshake.extensions.supported_version" ..
        " -e tls.handshake.ciphersuite -e tls.handshake.extensions_alpn_str 2>/dev/null")
      for l in out:gmatch("[^\n]+") do
        local f = {}
        for x in (l .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = x end
        if f[3] == "1" then
          want[f[1]] = { f[4], f[5], "-", "-", "-", "-" }
        else
          local w = want[f[2]]
          w[3], w[4] = f[6], VER[f[8] ~= "" and f[8] or f[7]]
          w[5], w[6] = names[f[9]], f[10] ~= "" and f[10] or "-"
        end
      end
      local recs = ssl(cap)
      local got = {}
      for _, r in ipairs(recs) do
        got[tostring(r["id.orig_p"])] = { r.server_name, r.ja3, r.ja3s or "-", r.version or "-", r.cipher or "-", r.next_protocol or "-" }
      end
      assert.is_true(next(want) ~= nil)
      assert.are.same(want, got)
    end)
  end
end)
