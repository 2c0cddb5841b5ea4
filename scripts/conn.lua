-- conn.lua: Zeek's conn.log for TCP: one JSON line per connection at its end.
--
-- Parameters: none. Output (mos.log, `_path` = "conn"): ts (first packet),
-- uid, id.orig_h, id.orig_p, id.resp_h, id.resp_p, proto ("tcp"),
-- duration, orig_bytes, resp_bytes, conn_state, missed_bytes, history,
-- orig_pkts, resp_pkts (community_id once the flow API has it).
--
-- Semantics are Zeek's documented ones (scripts/README.md lists them);
-- where the documentation leaves room, this script chooses:
--  * originator = the engine's client: the SYN sender; the receiver of a
--    SYN/ACK seen first; else the port heuristic (lower/well-known port is
--    the responder). History starts with "^" when the first packet came
--    from the responder.
--  * orig_bytes/resp_bytes: sequence space from the ISN+1 (or the first
--    seen sequence number of a midstream side) to the highest sequence
--    number sent, FIN excluded, RSTs ignored (so they include missed bytes).
--  * missed_bytes: bytes the reassembler skipped as gaps, both directions.
--  * A SYN answered by a bare RST is REJ, by anything else but a SYN/ACK
--    OTH. Otherwise (a SYN/ACK seen, or midstream with both sides
--    active) the first RST decides RSTO/RSTR; else FINs from both SF,
--    the originator's only S2, the responder's only S3, none S1; a
--    midstream connection not closed by both sides is OTH.
--  * History: S H F R repeat when their sequence number changes; A D Q I
--    once per direction; T (payload starting below the highest sequence
--    number already sent), W (zero window, RSTs excluded),
--    G (gaps) at the 1st, 10th, 100th... occurrence; within one packet the
--    letters come in the order Q I S|H F R D|A W T. No C: the engine drops
--    packets with bad checksums before flows see them.
local mos = require "mos"
local zeek = require "mos.zeek"
local bit = require "bit"

local band = bit.band
local FIN, SYN, RST, ACK = 1, 2, 4, 16
local WRAP, HALF = 4294967296, 2147483648

local function new_side() return { top = 0 } end

local function add(c, d, L) c.h[#c.h + 1] = d == 0 and L or L:lower() end
local function once(c, e, d, L) if not e[L] then e[L] = true; add(c, d, L) end end
local function again(c, e, d, L, seq) if e[L] ~= seq then e[L] = seq; add(c, d, L) end end
local function logn(c, e, d, L, n) -- a letter at the 1st, 10th, 100th ... time
  local k, t = (e[L] or 0) + n, e[L .. "t"] or 1
  while k >= t do add(c, d, L); t = t * 10 end
  e[L], e[L .. "t"] = k, t
end

local function conn(flow)
  local ctx = flow.ctx
  local c = ctx.conn
  if c == nil then c = { h = {}, [0] = new_side(), [1] = new_side() }; ctx.conn = c end
  return c
end

-- SYN, FIN, RST: states and letters, off the per-packet path
local function flags(c, e, d, fl, seq)
  if band(fl, SYN) ~= 0 and band(fl, FIN + RST) ~= 0 then once(c, e, d, "Q") end
  if band(fl, FIN + RST) == FIN + RST then once(c, e, d, "I") end
  if band(fl, SYN) ~= 0 then
    if band(fl, ACK) ~= 0 then e.synack = true; again(c, e, d, "H", seq)
    else e.syn = true; again(c, e, d, "S", seq) end
    if e.base == nil or e.synseq ~= seq then e.base, e.synseq, e.top = (seq + 1) % WRAP, seq, 0 end
  end
  if band(fl, FIN) ~= 0 then e.fin = true; again(c, e, d, "F", seq) end
  if band(fl, RST) ~= 0 then
    e.rst = true; again(c, e, d, "R", seq)
    if c.first_rst == nil then c.first_rst = d end
  end
end

local FIELDS = { "proto", "duration", "orig_bytes", "resp_bytes", "conn_state", "missed_bytes", "history",
                 "orig_pkts", "resp_pkts" }

local s = mos.socket("stream")
s:on(mos.CONN_START, mos.HK_SND, function(flow, side)
  flow:set("clibuf", false) -- conn reads no bytes: gaps are tracked without storage
  flow:set("svrbuf", false)
  if side ~= mos.SIDE_CLI then conn(flow).h[1] = "^" end
end)

s:on(mos.PKT_IN, mos.HK_SND, function(flow, d)
  local c = flow.ctx.conn or conn(flow)
  local fl, seq, _, win, len = flow:segment()
  local e, rexmit = c[d], false
  e.active = true
  if band(fl, SYN + FIN + RST) ~= 0 then flags(c, e, d, fl, seq) end
  if band(fl, RST) == 0 then -- sequence space: the highest byte sent past the base, unwrapped
    if e.base == nil then e.base = seq end
    local start = band(fl, SYN) ~= 0 and 0 or (seq - e.base) % WRAP
    local delta = (start + len - e.top) % WRAP
    local stop = e.top + (delta < HALF and delta or delta - WRAP)
    if band(fl, FIN) ~= 0 then e.finend = stop end
    if len > 0 and stop - len < e.top then rexmit = true end
    if stop > e.top then e.top = stop end
  end
  if len > 0 then
    if not e.D then once(c, e, d, "D") end
  elseif band(fl, ACK) ~= 0 and band(fl, SYN + FIN + RST) == 0 and not e.A then once(c, e, d, "A") end
  if win == 0 and band(fl, RST) == 0 then logn(c, e, d, "W", 1) end
  if rexmit then logn(c, e, d, "T", 1) end
end)

-- the hole is in the stream `side` receives: the other endpoint sent it
s:on(mos.GAP, mos.HK_RCV, function(flow, side, _, n) local c = conn(flow); logn(c, c[1 - side], 1 - side, "G", n) end)

-- bytes up to the FIN (the ACK after a FIN is one past it), else the top
local function size(e) return math.max(0, e.finend ~= nil and e.finend < e.top and e.finend or e.top) end

local function state(o, r, first_rst)
  if not r.active then
    if not o.syn then return "OTH" end
    return o.rst and "RSTOS0" or o.fin and "SH" or "S0"
  end
  if r.synack and not o.syn and not o.active then return r.rst and "RSTRH" or r.fin and "SHR" or "OTH" end
  if o.syn and not r.synack then
    return r.rst and r.top == 0 and "REJ" or "OTH" -- answered, but not by a SYN/ACK
  end
  if first_rst then return first_rst == 0 and "RSTO" or "RSTR" end
  if o.fin and r.fin then return "SF" end
  if not (o.syn or r.synack) then return "OTH" end -- midstream, not closed by both
  return o.fin and "S2" or r.fin and "S3" or "S1"
end

s:on(mos.CONN_END, mos.HK_NONE, function(flow)
  local c, i = conn(flow), flow:info()
  local o, r = c[0], c[1]
  zeek.log(zeek.conn_fields(flow, {
    _path = "conn", ts = i.first_ts, proto = "tcp",
    duration = i.last_ts - i.first_ts, orig_bytes = size(o), resp_bytes = size(r),
    conn_state = state(o, r, c.first_rst), missed_bytes = i.cli.gap_bytes + i.svr.gap_bytes,
    history = table.concat(c.h), orig_pkts = i.cli.pkts_sent, resp_pkts = i.svr.pkts_sent,
  }), FIELDS)
end)
