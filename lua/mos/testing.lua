-- mos.testing: run mos-lua as a subprocess from busted specs.
--
--   local T = require "mos.testing"
--   local r = T.run{script = "scripts/x.lua", capture = "f.pcap",
--                   params = {k = "v"}, config = {["log.level"] = "info"}}
--   -- r.exit, r.stdout, r.stderr, r.logs (decoded JSON lines), r.stats
--
-- Runs are strict by default (--strict: any handler error makes the exit
-- status 1, so a spec cannot pass over a broken handler); strict = false
-- turns that off for specs that test error handling itself.
-- The binary is $MOS_BUILD_DIR/mos-lua; relative script paths are resolved
-- against $MOS_SOURCE_DIR. Each run gets its own temp directory (r.dir).
local cjson = require "cjson"

local T = {}

T.source_dir = os.getenv("MOS_SOURCE_DIR") or "."
T.build_dir = os.getenv("MOS_BUILD_DIR") or (T.source_dir .. "/build")
T.shared_dir = os.getenv("MOS_SHARED_DIR") or (T.source_dir .. "/../shared")
T.binary = T.build_dir .. "/mos-lua"

function T.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
local q = T.quote

function T.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

function T.write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

function T.tmpdir()
  local p = io.popen("mktemp -d /tmp/mos-test.XXXXXX")
  local d = p:read("*l")
  p:close()
  return d
end

function T.path(p)
  if p:sub(1, 1) == "/" then return p end
  return T.source_dir .. "/" .. p
end

function T.pcap(name) return T.shared_dir .. "/pcaps/" .. name end
function T.exists(path) local f = io.open(path, "rb"); if f then f:close() return true end return false end

function T.decode_lines(text)
  local out = {}
  for line in (text or ""):gmatch("[^\n]+") do
    local ok, v = pcall(cjson.decode, line)
    if ok then out[#out + 1] = v end
  end
  return out
end

-- Run the program; opts.args (list) are extra raw arguments.
function T.run(opts)
  local dir = T.tmpdir()
  local stats, logf, errf = dir .. "/stats.json", dir .. "/log.jsonl", dir .. "/stderr.txt"
  local cmd = { q(T.binary), "--stats", q(stats), "-c", q("log.file=" .. logf) }
  if opts.strict ~= false then cmd[#cmd + 1] = "--strict" end
  if opts.capture then cmd[#cmd + 1] = "-r"; cmd[#cmd + 1] = q(opts.capture) end
  for k, v in pairs(opts.params or {}) do cmd[#cmd + 1] = "-s"; cmd[#cmd + 1] = q(k .. "=" .. tostring(v)) end
  for k, v in pairs(opts.config or {}) do cmd[#cmd + 1] = "-c"; cmd[#cmd + 1] = q(k .. "=" .. tostring(v)) end
  for _, a in ipairs(opts.args or {}) do cmd[#cmd + 1] = q(a) end
  if opts.script_text then
    T.write(dir .. "/script.lua", opts.script_text)
    cmd[#cmd + 1] = q(dir .. "/script.lua")
  elseif opts.script then
    cmd[#cmd + 1] = q(T.path(opts.script))
  end
  if opts.config_file then cmd[#cmd + 1] = q(opts.config_file) end
  local line = table.concat(cmd, " ") .. " 2>" .. q(errf) .. "; echo \"__MOS_EXIT:$?\""
  local p = io.popen(line)
  local out = p:read("*a")
  p:close()
  local code = tonumber(out:match("__MOS_EXIT:(%d+)%s*$"))
  out = out:gsub("__MOS_EXIT:%d+%s*$", "")
  local st = T.read(stats)
  local r = {
    exit = code, stdout = out, stderr = T.read(errf) or "", dir = dir, cmd = line,
    logs = T.decode_lines(T.read(logf)),
    stats = st and cjson.decode(st) or nil,
  }
  return r
end

-- Log records whose msg equals `msg`.
function T.records(r, msg)
  local out = {}
  for _, rec in ipairs(r.logs) do if rec.msg == msg then out[#out + 1] = rec end end
  return out
end

-- A minimal pcap writer for hand-crafted captures: Ethernet + IPv4 + TCP,
-- checksums computed so any checksum policy accepts them.
local bit = require "bit"

local function u16(n) return string.char(bit.band(bit.rshift(n, 8), 255), bit.band(n, 255)) end
local function u32(n)
  return string.char(bit.band(bit.rshift(n, 24), 255), bit.band(bit.rshift(n, 16), 255),
    bit.band(bit.rshift(n, 8), 255), bit.band(n, 255))
end
local function le32(n)
  return string.char(bit.band(n, 255), bit.band(bit.rshift(n, 8), 255),
    bit.band(bit.rshift(n, 16), 255), bit.band(bit.rshift(n, 24), 255))
end
local function csum(s)
  local sum = 0
  if #s % 2 == 1 then s = s .. "\0" end
  for i = 1, #s, 2 do sum = sum + s:byte(i) * 256 + s:byte(i + 1) end
  while sum > 0xffff do sum = bit.band(sum, 0xffff) + bit.rshift(sum, 16) end
  return bit.band(bit.bnot(sum), 0xffff)
end
local function ip4(a)
  local b1, b2, b3, b4 = a:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  return string.char(tonumber(b1), tonumber(b2), tonumber(b3), tonumber(b4))
end
T.FIN, T.SYN, T.RST, T.PSH, T.ACK = 1, 2, 4, 8, 16

-- pkts: list of {src="1.1.1.1", sport=, dst=, dport=, seq=, ack=, flags=, data="", ts=seconds or ts_us=µs,
--   vlan=id (optional 802.1Q tag), bad_tcp_checksum=true (a wrong TCP checksum)}
function T.write_pcap(path, pkts)
  local parts = { le32(0xa1b2c3d4) .. string.char(2, 0, 4, 0) .. le32(0) .. le32(0) .. le32(65535) .. le32(1) }
  for _, p in ipairs(pkts) do
    local data = p.data or ""
    local src, dst = ip4(p.src), ip4(p.dst)
    local tcp_nock = u16(p.sport) .. u16(p.dport) .. u32(p.seq or 0) .. u32(p.ack or 0)
      .. string.char(0x50, p.flags or 0) .. u16(p.win or 65535)
    local pseudo = src .. dst .. string.char(0, 6) .. u16(20 + #data)
    local ck = csum(pseudo .. tcp_nock .. u16(0) .. u16(0) .. data)
    if p.bad_tcp_checksum then ck = bit.bxor(ck, 0x5a5a) end -- not an offload pattern either
    local tcp = tcp_nock .. u16(ck) .. u16(0) .. data
    local iph_nock = string.char(0x45, 0) .. u16(20 + #tcp) .. u16(0) .. u16(0x4000) .. string.char(64, 6)
    local iph = iph_nock .. u16(csum(iph_nock .. u16(0) .. src .. dst)) .. src .. dst
    local tag = p.vlan and (u16(0x8100) .. u16(p.vlan)) or ""
    local frame = string.rep("\2", 6) .. string.rep("\4", 6) .. tag .. u16(0x0800) .. iph .. tcp
    local us = p.ts_us or math.floor((p.ts or 0) * 1e6 + 0.5)
    local sec = math.floor(us / 1e6)
    local usec = us - sec * 1e6
    parts[#parts + 1] = le32(sec) .. le32(usec) .. le32(#frame) .. le32(#frame) .. frame
  end
  T.write(path, table.concat(parts))
end

-- A whole connection: handshake, the given exchanges, FIN/FIN.
-- exchanges: list of {"c"|"s", data}
function T.conn(opts)
  local c, s = opts.client or "10.0.0.1", opts.server or "10.0.0.2"
  local cp, sp = opts.cport or 40000, opts.sport or 80
  local cseq, sseq = opts.cisn or 1000, opts.sisn or 5000
  local t = (opts.ts or 1700000000) * 1e6 -- integer microseconds: no float drift
  local out = {}
  local function add(from_c, flags, data)
    t = t + 1000
    local pk = from_c and { src = c, dst = s, sport = cp, dport = sp, seq = cseq, ack = sseq }
      or { src = s, dst = c, sport = sp, dport = cp, seq = sseq, ack = cseq }
    pk.flags, pk.data, pk.ts_us = flags, data, t
    out[#out + 1] = pk
    local adv = #(data or "") + ((bit.band(flags, 3) ~= 0) and 1 or 0)
    if from_c then cseq = cseq + adv else sseq = sseq + adv end
  end
  add(true, T.SYN)
  out[1].ack = 0
  add(false, T.SYN + T.ACK)
  add(true, T.ACK)
  for _, x in ipairs(opts.data or {}) do
    add(x[1] == "c", T.ACK + T.PSH, x[2])
    add(x[1] ~= "c", T.ACK)
  end
  if not opts.open then
    add(true, T.FIN + T.ACK)
    add(false, T.FIN + T.ACK)
    add(true, T.ACK)
  end
  return out
end

return T
