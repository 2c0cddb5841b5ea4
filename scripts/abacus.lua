-- abacus.lua: data accounting per subscriber (Abacus, as ported to mOS):
-- bytes delivered to and from each subscriber, retransmissions charged
-- once, and TCP tunneling flagged: a retransmission carrying different
-- bytes than the original (how a client hides data from accounting).
--
-- Parameters: -s subscribers=FILE: one IPv4/IPv6 CIDR or address per line,
-- '#' comments and blank lines allowed. A bad line stops the script at
-- load with FILE:LINE (on a reload, SIGHUP or --watch, the old rules stay).
-- The file is read when the script loads: edit it, then reload; new
-- connections follow the new list, tracked ones keep their first decision.
--
-- Output (mos.log): per connection with a subscriber endpoint, at its end,
-- `_path` = "abacus": ts, uid, id.*, subscriber (its address; the client's
-- when both match), sub_rx_bytes (in-order bytes delivered to it),
-- sub_tx_bytes (delivered from it), rexmit (retransmitted segments, not
-- charged), tunneling (true when any retransmission of the connection
-- carried different bytes; keep-alives and ordinary retransmissions do
-- not count). At exit, per core and subscriber, `_path` =
-- "abacus_subscriber": subscriber, conns, rx_bytes, tx_bytes, tunneling_conns.
--
-- How: the reassembler already delivers each byte once and compares
-- retransmitted bytes with the ones it holds (REXMIT_INCONSISTENT): the
-- script reads its counters at CONN_END. Connections without a subscriber
-- have their stream buffers turned off at their first packet.
local mos = require "mos"
local zeek = require "mos.zeek"

---------------------------------------------------------------- prefixes
-- A small address/prefix matcher. TODO(issue 13): use mos.cidr when it lands.
local function v4(s)
  local a, b, c, d = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if a == nil then return nil end
  a, b, c, d = tonumber(a), tonumber(b), tonumber(c), tonumber(d)
  if a > 255 or b > 255 or c > 255 or d > 255 then return nil end
  return string.char(a, b, c, d)
end

local function v6(s)
  local function groups(x)
    local t = {}
    if x == "" then return t end
    for g in (x .. ":"):gmatch("([^:]*):") do t[#t + 1] = g end
    return t
  end
  local head, tail = s:match("^(.-)::(.*)$")
  local h, t = groups(head or s), groups(tail or "")
  local fill = 8 - #h - #t
  if (head and fill < 1) or (not head and fill ~= 0) then return nil end
  local out = {}
  for i = 1, #h + fill + #t do
    local g = i <= #h and h[i] or i > #h + fill and t[i - #h - fill] or "0"
    if not g:match("^%x%x?%x?%x?$") then return nil end
    local n = tonumber(g, 16)
    out[i] = string.char(math.floor(n / 256), n % 256)
  end
  return table.concat(out)
end

local function bytes_of(addr) return v4(addr) or v6(addr) end

local function load_prefixes(path)
  local f, err = io.open(path, "r")
  if f == nil then error("abacus: cannot read the subscribers file: " .. tostring(err), 0) end
  local list, n = {}, 0
  for line in f:lines() do
    n = n + 1
    local text = line:gsub("#.*", ""):match("^%s*(.-)%s*$")
    if text ~= "" then
      local addr, len = text:match("^([^/%s]+)/(%d+)$")
      local b = bytes_of(addr or text)
      len = tonumber(len) or (b and #b * 8)
      if b == nil or len > #b * 8 then
        f:close()
        error(string.format("abacus: %s:%d: not an IPv4/IPv6 address or CIDR: %s", path, n, text), 0)
      end
      list[#list + 1] = { bytes = b, len = len }
    end
  end
  f:close()
  return list
end

local function matches(list, b)
  for _, p in ipairs(list) do
    if #p.bytes == #b then
      local whole, bits = math.floor(p.len / 8), p.len % 8
      if b:sub(1, whole) == p.bytes:sub(1, whole) then
        local unit = 2 ^ (8 - bits) -- compare the top `bits` bits of the next byte
        if bits == 0 or math.floor(b:byte(whole + 1) / unit) == math.floor(p.bytes:byte(whole + 1) / unit) then
          return true
        end
      end
    end
  end
  return false
end

---------------------------------------------------------------- accounting
local path = mos.param.subscribers
if path == nil or path == "" then error("abacus: give the subscribers file with -s subscribers=FILE", 0) end
local subscribers = load_prefixes(path)
local totals = {} -- subscriber address -> { conns, rx_bytes, tx_bytes, tunneling_conns }

local s = mos.socket("stream")
s:on(mos.CONN_START, mos.HK_SND, function(flow)
  for _, side in ipairs({ mos.SIDE_CLI, mos.SIDE_SVR }) do
    local addr = flow:peer(side)
    if matches(subscribers, bytes_of(addr) or "") then
      flow.ctx.abacus = { side = side, addr = addr }
      return
    end
  end
  flow:set("clibuf", false) -- nobody to charge: nothing to compare
  flow:set("svrbuf", false)
end)

s:on(mos.CONN_END, mos.HK_NONE, function(flow)
  local a = flow.ctx.abacus
  if a == nil then return end
  local i = flow:info()
  local sub, peer = a.side == mos.SIDE_CLI and i.cli or i.svr, a.side == mos.SIDE_CLI and i.svr or i.cli
  local tunneling = i.cli.rexmit_inconsistent + i.svr.rexmit_inconsistent > 0
  mos.log(zeek.conn_fields(flow, {
    _path = "abacus", ts = i.first_ts, subscriber = a.addr, sub_rx_bytes = sub.delivered,
    sub_tx_bytes = peer.delivered, rexmit = i.cli.rexmit + i.svr.rexmit, tunneling = tunneling }))
  local t = totals[a.addr] or { conns = 0, rx_bytes = 0, tx_bytes = 0, tunneling_conns = 0 }
  totals[a.addr] = t
  t.conns, t.rx_bytes, t.tx_bytes = t.conns + 1, t.rx_bytes + sub.delivered, t.tx_bytes + peer.delivered
  if tunneling then t.tunneling_conns = t.tunneling_conns + 1 end
end)

mos.on_exit(function()
  for addr, t in pairs(totals) do
    mos.log({ _path = "abacus_subscriber", subscriber = addr, conns = t.conns, rx_bytes = t.rx_bytes,
              tx_bytes = t.tx_bytes, tunneling_conns = t.tunneling_conns })
  end
end)
