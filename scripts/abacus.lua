-- abacus.lua: data accounting per subscriber (Abacus, as ported to mOS):
-- bytes delivered to and from each subscriber, retransmissions charged
-- once, and TCP tunneling flagged: a retransmission carrying different
-- bytes than the original (how a client hides data from accounting).
--
-- Parameters: -s subscribers=FILE: one IPv4/IPv6 CIDR or address per line,
-- '#' comments and blank lines allowed (a mos.cidr set). The file is
-- watched (mos.watch): an edit applies to new connections at once, tracked
-- ones keep the decision made at their first packet. A bad line stops the
-- script at load with FILE:LINE; later, the running set stays in force.
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

---------------------------------------------------------------- subscribers
-- The file's prefixes as a mos.cidr set; a bad line raises FILE:LINE.
local function load_subscribers(path)
  local f, err = io.open(path, "r")
  if f == nil then error("abacus: cannot read the subscribers file: " .. tostring(err), 0) end
  local set, n = mos.cidr(), 0
  for line in f:lines() do
    n = n + 1
    local text = line:gsub("#.*", ""):match("^%s*(.-)%s*$")
    if text ~= "" and not pcall(set.add, set, text) then
      f:close()
      error(string.format("abacus: %s:%d: not an IPv4/IPv6 address or CIDR: %s", path, n, text), 0)
    end
  end
  f:close()
  return set
end

local path = mos.param.subscribers
if path == nil or path == "" then error("abacus: give the subscribers file with -s subscribers=FILE", 0) end
local probe = io.open(path, "r") -- say it in abacus's words before mos.watch does
if probe == nil then error("abacus: cannot read the subscribers file: " .. path, 0) end
probe:close()
local subscribers
-- read now, and again whenever the file changes; a bad file keeps the running set
mos.watch(path, function(p) subscribers = load_subscribers(p) end)
local totals = {} -- subscriber address -> { conns, rx_bytes, tx_bytes, tunneling_conns }

local s = mos.socket("stream")
s:on(mos.CONN_START, mos.HK_SND, function(flow)
  for _, side in ipairs({ mos.SIDE_CLI, mos.SIDE_SVR }) do
    local addr = flow:peer(side)
    if subscribers:match(addr) then
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
  zeek.log(zeek.conn_fields(flow, {
    _path = "abacus", ts = i.first_ts, subscriber = a.addr, sub_rx_bytes = sub.delivered,
    sub_tx_bytes = peer.delivered, rexmit = i.cli.rexmit + i.svr.rexmit, tunneling = tunneling }),
    { "subscriber", "sub_rx_bytes", "sub_tx_bytes", "rexmit", "tunneling" })
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
