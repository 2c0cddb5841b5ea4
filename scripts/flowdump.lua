-- flowdump.lua: one JSON line per TCP connection plus both reassembled streams.
--
--   mos-lua -r CAPTURE -s out=DIR scripts/flowdump.lua
--
-- DIR/flows.jsonl holds one object per connection, in order of first packet:
--   {"client": "198.18.0.1:55914", "server": "198.18.0.2:80", "vlan": [100],
--    "handshake": "3way"|"simultaneous"|"none", "first_ts": ..., "last_ts": ...,
--    "client_state": "TIME_WAIT", "server_state": "CLOSED",
--    "c2s": {"bytes": 318, "file": "000001.c2s", "gaps": [[100, 200]],
--            "rexmit": 0, "rexmit_inconsistent": 0}, "s2c": {...}}
-- The file of a direction holds its bytes in stream order with gaps left out;
-- "gaps" lists each hole as [start, end) in stream offsets; "bytes" is the
-- file size. c2s (bytes the client sent) is the stream the SERVER receives.
--
-- With several cores (-n N) the output is the same as with one: each core
-- writes its streams under temporary names and its records to a part file;
-- mos.on_finish (core 0, after every core ended) orders all records by
-- first packet time, then endpoints, then flow id (flows with equal
-- endpoints always meet on one core, so the order never depends on the
-- core count), numbers the stream files in that order and writes flows.jsonl.
local mos = require "mos"

local out = mos.param.out
if out == nil or out == "" then error("flowdump: give the output directory with -s out=DIR") end
if os.execute("mkdir -p '" .. out:gsub("'", "'\\''") .. "'") ~= 0 then
  error("flowdump: cannot create " .. out)
end

local FLUSH_AT = 256 * 1024 -- bytes buffered per direction before appending to its file

local records = {}

local function new_dir(name)
  local f = assert(io.open(out .. "/" .. name, "wb"))
  f:close()
  return { file = name, buf = {}, pending = 0, bytes = 0 }
end

local function flush(d)
  if d.pending == 0 then return end
  local f = assert(io.open(out .. "/" .. d.file, "ab"))
  f:write(table.concat(d.buf))
  f:close()
  d.buf, d.pending = {}, 0
end

-- Flow ids (and ns timestamps) exceed 2^53: keep them as decimal strings,
-- zero-padded to compare in numeric order.
local function u64(v)
  local d = tostring(v):gsub("U?LL$", "")
  return string.rep("0", 20 - #d) .. d
end

local function state(flow)
  local ctx = flow.ctx
  if ctx.c2s == nil then
    local base = string.format(".c%d-%s", mos.core_id, u64(flow.id))
    ctx.c2s = new_dir(base .. ".c2s")
    ctx.s2c = new_dir(base .. ".s2c")
  end
  return ctx
end

local function take(flow, d, side)
  local data = flow:peek(side)
  if data and #data > 0 then
    d.buf[#d.buf + 1] = data
    d.pending = d.pending + #data
    d.bytes = d.bytes + #data
    if d.pending >= FLUSH_AT then flush(d) end
  end
end

local function pull(flow)
  local ctx = state(flow)
  take(flow, ctx.c2s, mos.SIDE_SVR)
  take(flow, ctx.s2c, mos.SIDE_CLI)
end

local function ts(ns)
  local sec = tonumber(ns / 1000000000ULL)
  local frac = tonumber(ns % 1000000000ULL)
  if frac % 1000 == 0 then return string.format("%d.%06d", sec, frac / 1000) end
  return string.format("%d.%09d", sec, frac)
end

local enc = mos.json.encode

-- The file name is a placeholder (@c2s/@s2c) until the merge numbers it.
local function dir_json(d, gaps, rcv, tag)
  local g = {}
  for i, gap in ipairs(gaps) do g[i] = string.format("[%d, %d]", gap[1], gap[2]) end
  return string.format('{"bytes": %d, "file": "%s", "gaps": [%s], "rexmit": %d, "rexmit_inconsistent": %d}',
    d.bytes, tag, table.concat(g, ", "), rcv.rexmit, rcv.rexmit_inconsistent)
end

local function remove(name) os.remove(out .. "/" .. name) end

local s = mos.socket("stream")
s:on(mos.CONN_NEW_DATA, mos.HK_RCV, pull)
s:on(mos.CONN_END, mos.HK_NONE, function(flow)
  pull(flow)
  local ctx = flow.ctx
  flush(ctx.c2s)
  flush(ctx.s2c)
  local i = flow:info()
  if i.proto ~= 6 then
    remove(ctx.c2s.file)
    remove(ctx.s2c.file)
    return
  end
  local line = string.format(
    '{"client": %s, "server": %s, "vlan": [%s], "handshake": %s, "first_ts": %s, "last_ts": %s, '
      .. '"client_state": %s, "server_state": %s, "c2s": %s, "s2c": %s}',
    enc(i.client), enc(i.server), table.concat(i.vlan, ", "), enc(i.handshake),
    ts(i.first_ts_ns), ts(i.last_ts_ns), enc(i.cli.state), enc(i.svr.state),
    dir_json(ctx.c2s, flow:gaps(mos.SIDE_SVR), i.svr, "@c2s"), dir_json(ctx.s2c, flow:gaps(mos.SIDE_CLI), i.cli, "@s2c"))
  records[#records + 1] = table.concat({ u64(i.first_ts_ns), i.client, i.server,
    u64(i.id), ctx.c2s.file:sub(1, -5), line }, "\t")
end)

local function part_name(core) return string.format("%s/.flows.%d.part", out, core) end

mos.on_exit(function()
  local f = assert(io.open(part_name(mos.core_id), "w"))
  for _, r in ipairs(records) do f:write(r, "\n") end
  f:close()
end)

mos.on_finish(function()
  local all = {}
  for core = 0, mos.ncores - 1 do
    local f = io.open(part_name(core), "r")
    if f then
      for l in f:lines() do
        local first, cli, svr, id, base, line = l:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
        all[#all + 1] = { first, cli, svr, id, base = base, line = line }
      end
      f:close()
      os.remove(part_name(core))
    end
  end
  table.sort(all, function(a, b)
    for k = 1, 4 do
      if a[k] ~= b[k] then return a[k] < b[k] end
    end
    return false
  end)
  local f = assert(io.open(out .. "/flows.jsonl", "w"))
  for n, r in ipairs(all) do
    local name = string.format("%06d", n)
    assert(os.rename(out .. "/" .. r.base .. ".c2s", out .. "/" .. name .. ".c2s"))
    assert(os.rename(out .. "/" .. r.base .. ".s2c", out .. "/" .. name .. ".s2c"))
    local line = r.line:gsub("@c2s", name .. ".c2s", 1):gsub("@s2c", name .. ".s2c", 1)
    f:write(line, "\n")
  end
  f:close()
end)
