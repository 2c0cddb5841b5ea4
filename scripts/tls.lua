-- tls.lua: Zeek's ssl.log: one JSON line per TLS connection, from the
-- ClientHello and ServerHello in the reassembled streams.
--
-- Parameters: none. Output (mos.log, `_path` = "ssl"): ts (the
-- connection's first packet, as Zeek), uid, id.orig_h, id.orig_p, id.resp_h,
-- id.resp_p, version ("TLSv12", "TLSv13": the ServerHello's
-- supported_versions extension decides, else its version field), cipher
-- (IANA name, "unknown-N" otherwise), server_name (SNI), next_protocol
-- (the ALPN protocol the server chose), ja3, ja3s (MD5 hex, GREASE values
-- left out as JA3 defines). Logged at the ServerHello, or at the
-- connection's end when only a ClientHello came.
--
-- How: a user-defined event on CONN_NEW_DATA whose filter collects each
-- direction's TLS records, joins handshake fragments (a hello may span
-- records and segments) and fires when a hello is complete. A direction
-- whose bytes are not TLS records, or whose hello passes 64 KiB, stops
-- being parsed; a direction done (hello read or given up) has its stream
-- buffer turned off. MD5 comes from the system's libcrypto (Debian libssl3) via the FFI.
local mos = require "mos"
local zeek = require "mos.zeek"
local ffi = require "ffi"
local bit = require "bit"

pcall(ffi.cdef, [[
typedef struct evp_md_st EVP_MD;
const EVP_MD *EVP_md5(void);
int EVP_Digest(const void *data, size_t count, unsigned char *md, unsigned int *size, const EVP_MD *type, void *impl);
]])
local ok, crypto = pcall(ffi.load, "libcrypto.so.3")
if not ok then error("tls.lua: ja3 needs MD5 from libcrypto.so.3 (Debian package libssl3): " .. tostring(crypto)) end
local digest, dlen = ffi.new("unsigned char[16]"), ffi.new("unsigned int[1]")
local function md5(s)
  crypto.EVP_Digest(s, #s, digest, dlen, crypto.EVP_md5(), nil)
  local hex = {}
  for i = 0, 15 do hex[i + 1] = string.format("%02x", digest[i]) end
  return table.concat(hex)
end

local VERSIONS = { [0x0300] = "SSLv3", [0x0301] = "TLSv10", [0x0302] = "TLSv11", [0x0303] = "TLSv12", [0x0304] = "TLSv13" }
local CIPHERS = { -- IANA TLS Cipher Suites registry (the common ones)
  [0x0004] = "TLS_RSA_WITH_RC4_128_MD5", [0x0005] = "TLS_RSA_WITH_RC4_128_SHA",
  [0x000a] = "TLS_RSA_WITH_3DES_EDE_CBC_SHA", [0x0016] = "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA",
  [0x002f] = "TLS_RSA_WITH_AES_128_CBC_SHA", [0x0033] = "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
  [0x0035] = "TLS_RSA_WITH_AES_256_CBC_SHA", [0x0039] = "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
  [0x003c] = "TLS_RSA_WITH_AES_128_CBC_SHA256", [0x003d] = "TLS_RSA_WITH_AES_256_CBC_SHA256",
  [0x0067] = "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", [0x006b] = "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
  [0x009c] = "TLS_RSA_WITH_AES_128_GCM_SHA256", [0x009d] = "TLS_RSA_WITH_AES_256_GCM_SHA384",
  [0x009e] = "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", [0x009f] = "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
  [0x1301] = "TLS_AES_128_GCM_SHA256", [0x1302] = "TLS_AES_256_GCM_SHA384",
  [0x1303] = "TLS_CHACHA20_POLY1305_SHA256", [0x1304] = "TLS_AES_128_CCM_SHA256", [0x1305] = "TLS_AES_128_CCM_8_SHA256",
  [0xc008] = "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA", [0xc009] = "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
  [0xc00a] = "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", [0xc012] = "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
  [0xc013] = "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", [0xc014] = "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
  [0xc023] = "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", [0xc024] = "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
  [0xc027] = "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", [0xc028] = "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
  [0xc02b] = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", [0xc02c] = "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
  [0xc02f] = "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", [0xc030] = "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
  [0xcca8] = "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", [0xcca9] = "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
  [0xccaa] = "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
}
local MAX_HELLO = 64 * 1024
local FIELDS = { "version", "cipher", "server_name", "next_protocol", "ja3", "ja3s" }

local byte = string.byte
local function u16(s, i) return byte(s, i) * 256 + byte(s, i + 1) end
local function grease(v) return bit.band(v, 0x0f0f) == 0x0a0a and bit.rshift(v, 8) == bit.band(v, 0xff) end

-- Values of a list of n-byte numbers at s[i..j], GREASE left out, as "a-b-c".
local function list(s, i, j, n)
  local out = {}
  for k = i, j - n + 1, n do
    local v = n == 2 and u16(s, k) or byte(s, k)
    if not grease(v) then out[#out + 1] = v end
  end
  return table.concat(out, "-")
end

-- Extensions at s[i..j]: calls fn(type, data_start, data_end); returns "t1-t2-..." (GREASE left out).
local function extensions(s, i, j, fn)
  local types = {}
  while i + 3 <= j do
    local t, n = u16(s, i), u16(s, i + 2)
    if i + 3 + n > j then error("extension overruns the hello") end
    if not grease(t) then types[#types + 1] = t end
    fn(t, i + 4, i + 3 + n)
    i = i + 4 + n
  end
  return table.concat(types, "-")
end

local function client_hello(rec, s) -- s: the message body
  local i = 35 + byte(s, 35) + 1 -- after version, random, session id
  local nc = u16(s, i)
  local ciphers = list(s, i + 2, i + 1 + nc, 2)
  i = i + 2 + nc
  i = i + 1 + byte(s, i) -- compression methods
  local curves, formats = "", ""
  local exts = i + 1 <= #s and extensions(s, i + 2, math.min(#s, i + 1 + u16(s, i)), function(t, a, b)
    if t == 0 and b - a >= 4 and byte(s, a + 2) == 0 then rec.server_name = s:sub(a + 5, a + 4 + u16(s, a + 3))
    elseif t == 10 then curves = list(s, a + 2, b, 2)
    elseif t == 11 then formats = list(s, a + 1, b, 1) end
  end) or ""
  rec.ja3 = md5(table.concat({ u16(s, 1), ciphers, exts, curves, formats }, ","))
end

local function server_hello(rec, s)
  local i = 35 + byte(s, 35) + 1
  local version, cipher = u16(s, 1), u16(s, i)
  i = i + 3 -- cipher, compression method
  local exts = i + 1 <= #s and extensions(s, i + 2, math.min(#s, i + 1 + u16(s, i)), function(t, a, b)
    if t == 43 and b - a == 1 then version = u16(s, a)
    elseif t == 16 and b - a >= 3 then rec.next_protocol = s:sub(a + 3, a + 2 + byte(s, a + 2)) end
  end) or ""
  rec.version = VERSIONS[version] or ("unknown-" .. version)
  rec.cipher = CIPHERS[cipher] or ("unknown-" .. cipher)
  rec.ja3s = md5(table.concat({ u16(s, 1), cipher, exts }, ","))
end

local function state(flow)
  local ctx = flow.ctx
  local t = ctx.tls
  if t == nil then t = { rec = { _path = "ssl" }, [0] = { buf = "", hs = "" }, [1] = { buf = "", hs = "" } }; ctx.tls = t end
  return t
end

-- Feeds direction d (0: client to server): records -> handshake bytes ->
-- the hello. Returns true when this direction's hello was just parsed.
local function feed(t, d, data)
  local st = t[d]
  local b, i = st.buf .. data, 1
  while #b - i + 1 >= 5 do
    local ct, major, n = byte(b, i), byte(b, i + 1), u16(b, i + 3)
    if major ~= 3 or ct < 20 or ct > 23 or n > 18432 then st.off = true; return false end
    if #b - i + 1 < 5 + n then break end
    if ct == 22 then st.hs = st.hs .. b:sub(i + 5, i + 4 + n) end
    i = i + 5 + n
  end
  st.buf = b:sub(i)
  local hs = st.hs
  if #hs >= 4 then
    local ht, n = byte(hs, 1), byte(hs, 2) * 65536 + u16(hs, 3)
    if ht ~= (d == 0 and 1 or 2) or n > MAX_HELLO then st.off = true; return false end
    if #hs >= 4 + n then
      st.done = true
      local ok2 = pcall(d == 0 and client_hello or server_hello, t.rec, hs:sub(5, 4 + n))
      if not ok2 then st.done, st.off = false, true end -- malformed: what was read stays
      return ok2
    end
  end
  if #st.buf + #st.hs > MAX_HELLO + 5 then st.off = true end
  return false
end

local HELLO = mos.define_event(mos.CONN_NEW_DATA, function(flow, side)
  local t = state(flow)
  local d = side == mos.SIDE_SVR and 0 or 1 -- SIDE_SVR receives what the client sent
  local st = t[d]
  if st.done or st.off then return false end
  local fired = feed(t, d, flow:peek(side))
  if st.done or st.off then flow:set(side == mos.SIDE_SVR and "svrbuf" or "clibuf", false) end -- nothing more to read
  return fired
end)

local function log(flow, t)
  if t.logged or t[0].done ~= true and t[1].done ~= true then return end
  t.logged = true
  t.rec.ts = flow:info().first_ts
  zeek.log(zeek.conn_fields(flow, t.rec), FIELDS)
end

local s = mos.socket("stream")
s:on(HELLO, mos.HK_RCV, function(flow)
  local t = flow.ctx.tls
  if t[1].done then log(flow, t) end
end)
s:on(mos.CONN_END, mos.HK_NONE, function(flow)
  local t = flow.ctx.tls
  if t ~= nil then log(flow, t) end
end)
