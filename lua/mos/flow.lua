-- mos.flow: methods of the `flow` cdata handed to handlers.
--
-- A flow is a `struct mos_flow *` whose public prefix (id, uctx) is read
-- directly; everything else goes through the FFI accessors, which copy into
-- scratch structs allocated once per state. A flow pointer is only valid
-- during the dispatch of its event: scripts keep flow.ctx (or flow.id), never
-- the flow itself, across events.
local ffi = require "ffi"
local R = require "mos.runtime"

local C = ffi.C
local tonumber, type, error = tonumber, type, error

local info_buf = ffi.new("struct mos_ffi_flow")
local pkt_buf = ffi.new("struct mos_ffi_pkt")
local PEEK_CHUNK = 65536
local peek_buf = ffi.new("uint8_t[?]", PEEK_CHUNK)
local str_buf = ffi.new("char[80]")
local i64_buf = ffi.new("int64_t[1]")
local gaps_cap = 256
local gaps_buf = ffi.new("uint64_t[?]", gaps_cap * 2)

local HANDSHAKE = { [0] = "3way", [1] = "simultaneous", [2] = "none" }
local END_REASON = { [0] = "none", "close", "reset", "timeout", "evicted", "port_reuse", "shutdown", "host" }

local function check_side(side, what)
  if side ~= 0 and side ~= 1 then
    error(what .. ": side must be mos.SIDE_CLI or mos.SIDE_SVR, got " .. tostring(side), 3)
  end
end

local methods = {}
local getters = {}

local ctx_of = R.ctx_of
function getters.ctx(f) return ctx_of(f) end

local function endpoint(f, side)
  local n = C.mos_flow_endpoint(R.core, f, side, str_buf, 80)
  if n < 0 then return nil end
  return ffi.string(str_buf, n)
end
-- Flow identity (core/flow_uid.c, core/community_id.c): computed when asked.
function getters.uid(f)
  local n = C.mos_flow_uid(R.core, f, str_buf, 80)
  return n >= 0 and ffi.string(str_buf, n) or nil
end
function getters.community_id(f)
  local n = C.mos_flow_community_id(R.core, f, str_buf, 80)
  return n >= 0 and ffi.string(str_buf, n) or nil
end

function getters.client(f) return endpoint(f, 0) end
function getters.server(f) return endpoint(f, 1) end

-- peek beyond the first chunk (rare: more than PEEK_CHUNK bytes unread).
local function peek_more(f, side, n, first, total)
  local parts = nil
  while n == nil or total < n do
    local want = PEEK_CHUNK
    if n ~= nil and n - total < want then want = n - total end
    local got = tonumber(C.mos_flow_peek(R.core, f, side, peek_buf, want))
    if got < 0 then return nil, ffi.string(C.mos_strerror(got)) end
    if got == 0 then break end
    local s = ffi.string(peek_buf, got)
    total = total + got
    if first == nil then first = s
    else
      parts = parts or { first }
      parts[#parts + 1] = s
    end
    if got < want then break end
  end
  if parts then return table.concat(parts) end
  return first or ""
end

-- Unread bytes of the stream `side` receives, consumed; "" when none.
-- The first read needs no loop (see walk in runtime.lua: loops on the
-- per-event path keep it from being compiled).
function methods.peek(f, side, n)
  check_side(side, "flow:peek")
  if n ~= nil and (type(n) ~= "number" or n < 0) then error("flow:peek: bad length " .. tostring(n), 2) end
  if n == 0 then return "" end
  local want = PEEK_CHUNK
  if n ~= nil and n < want then want = n end
  local got = tonumber(C.mos_flow_peek(R.core, f, side, peek_buf, want))
  if got < 0 then return nil, ffi.string(C.mos_strerror(got)) end
  if got == 0 then return "" end
  local s = ffi.string(peek_buf, got)
  if got < want or (n ~= nil and got >= n) then return s end
  return peek_more(f, side, n, s, got)
end

-- Zero-copy flavour of peek for hot paths (mtcp_peek's shape): moves up to
-- n unread bytes of the stream `side` receives into the FFI buffer `buf`
-- (e.g. ffi.new("uint8_t[?]", n)) and returns the count, 0 when none. No
-- Lua string is made, so a busy script produces no garbage per event.
function methods.read(f, side, buf, n)
  check_side(side, "flow:read")
  if type(n) ~= "number" or n < 0 or type(buf) ~= "cdata" then
    error("flow:read: expected an FFI buffer and a non-negative length", 2)
  end
  local got = tonumber(C.mos_flow_peek(R.core, f, side, buf, n))
  if got < 0 then return nil, ffi.string(C.mos_strerror(got)) end
  return got
end

-- n bytes at delivered offset `off` of the stream `side` receives, not consumed.
function methods.ppeek(f, side, off, n)
  check_side(side, "flow:ppeek")
  if type(off) ~= "number" or type(n) ~= "number" or off < 0 or n < 0 then
    error("flow:ppeek: offset and length must be non-negative numbers", 2)
  end
  local buf = n <= PEEK_CHUNK and peek_buf or ffi.new("uint8_t[?]", n)
  local got = tonumber(C.mos_flow_ppeek(R.core, f, side, off, buf, n))
  if got < 0 then return nil, ffi.string(C.mos_strerror(got)) end
  return ffi.string(buf, got)
end

local function addr(ver, a)
  local n = C.mos_addr_format(ver, a, str_buf, 80)
  return n >= 0 and ffi.string(str_buf, n) or "?"
end

-- Headers of the packet being processed (side is accepted for mOS
-- compatibility: the engine exposes only the current packet).
function methods.lastpkt(f, side)
  if C.mos_pkt_get(R.core, pkt_buf) < 0 then return nil, "no packet" end
  local p = pkt_buf
  local vlan = {}
  for i = 0, p.nvlan - 1 do vlan[#vlan + 1] = p.vlan[i] end
  return {
    ts = tonumber(p.ts_ns) / 1e9, ts_ns = p.ts_ns,
    ip_ver = p.ip_ver, proto = p.proto, ttl = p.ttl,
    src = addr(p.ip_ver, p.src), dst = addr(p.ip_ver, p.dst),
    sport = p.sport, dport = p.dport,
    seq = p.seq, ack = p.ack, flags = p.tcp_flags, window = p.win, urg = p.urg,
    caplen = p.caplen, wirelen = p.wirelen, vlan = vlan,
    payload = p.payload ~= nil and ffi.string(p.payload, p.payload_len) or "",
    payload_len = p.payload_len, payload_wire_len = p.payload_wire_len,
    reassembled = p.reassembled ~= 0,
  }
end

-- The current packet's TCP header fields as five numbers, no table:
-- flags, seq, ack, window, payload length on the wire (cheap enough for
-- every packet; flow:lastpkt() has everything, in a new table).
function methods.segment(f)
  if C.mos_pkt_get(R.core, pkt_buf) < 0 then return nil, "no packet" end
  local p = pkt_buf
  return p.tcp_flags, p.seq, p.ack, p.win, p.payload_wire_len
end

function methods.drop(f) C.mos_flow_drop(R.core, f) end

local PARTS = { ip = 1, tcp = 2, payload = 3 }

local function rewrite(f, part, off, remove, data, what)
  local p = PARTS[part]
  if p == nil then error(what .. ": part must be \"ip\", \"tcp\" or \"payload\", got " .. tostring(part), 3) end
  if type(off) ~= "number" or off < 0 or type(remove) ~= "number" or remove < 0 then
    error(what .. ": offset and length must be non-negative numbers", 3)
  end
  if type(data) ~= "string" then error(what .. ": data must be a string", 3) end
  local rc = C.mos_pkt_rewrite(R.core, f, p, off, remove, data, #data)
  if rc < 0 then return nil, ffi.string(C.mos_strerror(rc)) end
  return true
end

-- Inline mode, the current packet of this flow: overwrite #data bytes at
-- `off` of `part` ("ip", "tcp" or "payload"; mOS's mtcp_setlastpkt).
function methods.setlastpkt(f, part, off, data) return rewrite(f, part, off, #(data or ""), data, "flow:setlastpkt") end

-- Replace `remove` payload bytes at `off` by `data` (any length): the
-- flow's later sequence/acknowledgement numbers are remapped both ways.
-- flow:rewrite(off, remove, data) or flow:rewrite(part, off, remove, data).
function methods.rewrite(f, a, b, c, d)
  if type(a) == "string" then return rewrite(f, a, b, c, d, "flow:rewrite") end
  return rewrite(f, "payload", a, b, c, "flow:rewrite")
end

function methods.reset(f)
  local rc = C.mos_flow_reset(R.core, f)
  if rc < 0 then return nil, ffi.string(C.mos_strerror(rc)) end
  return true
end

function methods.peer(f, side)
  check_side(side, "flow:peer")
  C.mos_flow_info(R.core, f, info_buf)
  local s = info_buf.side[side]
  return addr(info_buf.ip_ver, s.addr), s.port
end

function methods.state(f, side)
  check_side(side, "flow:state")
  C.mos_flow_info(R.core, f, info_buf)
  return ffi.string(C.mos_state_name(info_buf.side[side].state))
end

-- Payload bytes the client and the server sent so far (two numbers, no
-- table: cheap enough for every packet).
function methods.bytes(f)
  C.mos_flow_info(R.core, f, info_buf)
  return tonumber(info_buf.side[0].bytes_sent), tonumber(info_buf.side[1].bytes_sent)
end

-- Gaps of the stream `side` receives: { {start, end}, ... } in stream offsets.
function methods.gaps(f, side)
  check_side(side, "flow:gaps")
  local n = C.mos_flow_gaps(R.core, f, side, gaps_buf, gaps_cap)
  if n > gaps_cap then
    gaps_cap = n
    gaps_buf = ffi.new("uint64_t[?]", gaps_cap * 2)
    n = C.mos_flow_gaps(R.core, f, side, gaps_buf, gaps_cap)
  end
  local out = {}
  for i = 0, n - 1 do out[i + 1] = { tonumber(gaps_buf[2 * i]), tonumber(gaps_buf[2 * i + 1]) } end
  return out
end

local function side_info(s)
  return {
    state = ffi.string(C.mos_state_name(s.state)), buffered = s.buffered ~= 0,
    pkts_sent = tonumber(s.pkts_sent), bytes_sent = tonumber(s.bytes_sent),
    rcv_next = tonumber(s.rcv_next), delivered = tonumber(s.rcv_delivered),
    unread = tonumber(s.rcv_unread), lost = tonumber(s.rcv_lost), gap_bytes = tonumber(s.rcv_gap_bytes),
    ngaps = s.rcv_ngaps, ngaps_total = s.rcv_ngaps_total, rexmit = s.rcv_rexmit,
    rexmit_inconsistent = s.rcv_rexmit_inconsistent, ooo_held = s.rcv_ooo_held, bufsize = s.rcv_bufsize,
  }
end

-- Everything about the flow as a plain table (for logging). cli/svr are the
-- endpoints; cli.delivered etc. describe the stream the CLIENT receives.
function methods.info(f)
  local rc = C.mos_flow_info(R.core, f, info_buf)
  if rc < 0 then return nil, ffi.string(C.mos_strerror(rc)) end
  local i = info_buf
  local vlan = {}
  for k = 0, i.nvlan - 1 do vlan[#vlan + 1] = i.vlan[k] end
  return {
    id = tonumber(i.id), client = endpoint(f, 0), server = endpoint(f, 1),
    ip_ver = i.ip_ver, proto = i.proto, vlan = vlan,
    handshake = HANDSHAKE[i.handshake] or "?",
    first_ts = tonumber(i.first_ts_ns) / 1e9, last_ts = tonumber(i.last_ts_ns) / 1e9,
    first_ts_ns = i.first_ts_ns, last_ts_ns = i.last_ts_ns,
    ended = i.ended ~= 0, end_reason = END_REASON[i.end_reason] or "?",
    cli = side_info(i.side[0]), svr = side_info(i.side[1]),
  }
end

local OPTS = { clibuf = 1, svrbuf = 2, overlap = 3, uctx = 6 }

function methods.get(f, opt, side)
  if opt == "state" then return methods.state(f, side) end
  if opt == "gaps" then return methods.gaps(f, side) end
  if opt == "bufinfo" or opt == "rexmit" or opt == "rexmit_inconsistent" then
    check_side(side, "flow:get")
    C.mos_flow_info(R.core, f, info_buf)
    local s = side_info(info_buf.side[side])
    if opt == "bufinfo" then return s end
    return s[opt]
  end
  local o = OPTS[opt]
  if o == nil then error("flow:get: unknown option " .. tostring(opt), 2) end
  R.check(C.mos_flow_getopt(R.core, f, o, i64_buf), "flow:get " .. opt, 2)
  local v = tonumber(i64_buf[0])
  if o == 1 or o == 2 then return v ~= 0 end
  if o == 3 then return v == 0 and "first" or "last" end
  return v
end

function methods.set(f, opt, v)
  local o = OPTS[opt]
  if o == nil then error("flow:set: unknown or read-only option " .. tostring(opt), 2) end
  if o == 1 or o == 2 then
    if type(v) ~= "boolean" then error("flow:set " .. opt .. ": expected a boolean", 2) end
    v = v and 1 or 0
  elseif o == 3 then
    if v ~= "first" and v ~= "last" then error("flow:set overlap: expected \"first\" or \"last\"", 2) end
    v = v == "first" and 0 or 1
  elseif type(v) ~= "number" then
    error("flow:set " .. opt .. ": expected a number", 2)
  end
  local rc = C.mos_flow_setopt(R.core, f, o, v)
  if rc < 0 then return nil, ffi.string(C.mos_strerror(rc)) end
  return true
end

function methods.on(f, ev, hook, fn) R.flow_on(f, ev, hook, fn, 2) end
function methods.off(f, ev, hook, fn) R.flow_off(f, ev, hook, fn, 2) end

ffi.metatype("struct mos_flow", {
  __index = function(f, k)
    -- ctx first: filters and handlers read it on every event (k is a
    -- constant in a trace, so the test costs nothing once compiled)
    if k == "ctx" then return ctx_of(f) end
    local m = methods[k]
    if m ~= nil then return m end
    local g = getters[k]
    if g ~= nil then return g(f) end
    return nil
  end,
  __tostring = function(f) return "flow#" .. tostring(tonumber(f.id)) end,
})

return { methods = methods }
