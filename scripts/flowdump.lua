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
-- file size. A direction without bytes has no file ("file": null). c2s
-- (bytes the client sent) is the stream the SERVER receives.
--
-- With several cores (-n N) the output is the same as with one: each core
-- writes its streams under temporary names and its records to a part file;
-- mos.on_finish (core 0, after every core ended) orders all records by
-- first packet time, then endpoints, then flow id (flows with equal
-- endpoints always meet on one core, so the order never depends on the
-- core count), numbers the stream files in that order and writes flows.jsonl.
--
-- Cost: a stream file is created at its direction's first bytes (not at
-- the connection's start), so connections without data cost no file
-- operation at all; records go to the part file as they come (not into
-- Lua memory while packets flow) and are sorted once at the end.
local mos = require "mos"

local out = mos.param.out
if out == nil or out == "" then error("flowdump: give the output directory with -s out=DIR") end
if os.execute("mkdir -p '" .. out:gsub("'", "'\\''") .. "'") ~= 0 then
  error("flowdump: cannot create " .. out)
end

local FLUSH_AT = 256 * 1024 -- bytes buffered per direction before appending to its file

local part -- this core's part file of records (below)

local function new_dir(name)
  return { file = name, buf = {}, pending = 0, bytes = 0, created = false }
end

local function flush(d)
  if d.pending == 0 then return end
  local f = assert(io.open(out .. "/" .. d.file, d.created and "ab" or "wb"))
  d.created = true
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

-- "sec.frac" (6 digits when whole microseconds, else 9), and the same
-- instant as a fixed-width sort key
local function ts(ns)
  local sec = tonumber(ns / 1000000000ULL)
  local frac = tonumber(ns % 1000000000ULL)
  local key = string.format("%012d%09d", sec, frac)
  if frac % 1000 == 0 then return string.format("%d.%06d", sec, frac / 1000), key end
  return string.format("%d.%09d", sec, frac), key
end

local enc = mos.json.encode
-- the few distinct state and handshake names, quoted once
local quoted = setmetatable({}, { __index = function(t, k) local v = enc(k); t[k] = v; return v end })
-- endpoints are the runtime's own "a.b.c.d:port" / "[v6]:port" text: no
-- byte of them needs escaping
local function endpoint(e) return '"' .. e .. '"' end

-- The file name is a placeholder (@c2s/@s2c) until the merge numbers it;
-- null when the direction carried no bytes (no file was written).
local function dir_json(d, gaps, rcv, tag)
  local g = {}
  for i, gap in ipairs(gaps) do g[i] = string.format("[%d, %d]", gap[1], gap[2]) end
  return string.format('{"bytes": %d, "file": %s, "gaps": [%s], "rexmit": %d, "rexmit_inconsistent": %d}',
    d.bytes, d.bytes > 0 and '"' .. tag .. '"' or "null", table.concat(g, ", "), rcv.rexmit,
    rcv.rexmit_inconsistent)
end

local function remove(d) if d.created then os.remove(out .. "/" .. d.file) end end

local s = mos.socket("stream")
s:on(mos.CONN_NEW_DATA, mos.HK_RCV, pull)
local NO_DATA = { file = "-", bytes = 0, pending = 0, created = false } -- a flow that never had data
local NO_GAPS = {}

s:on(mos.CONN_END, mos.HK_NONE, function(flow)
  local ctx = flow.ctx
  if ctx.c2s ~= nil or flow:ppeek(mos.SIDE_SVR, 0, 1) ~= "" or flow:ppeek(mos.SIDE_CLI, 0, 1) ~= "" then
    pull(flow)
  end
  local c2s, s2c = ctx.c2s or NO_DATA, ctx.s2c or NO_DATA
  flush(c2s)
  flush(s2c)
  local i = flow:info()
  if i.proto ~= 6 then
    remove(c2s)
    remove(s2c)
    return
  end
  local first, first_key = ts(i.first_ts_ns)
  local line = string.format(
    '{"client": %s, "server": %s, "vlan": [%s], "handshake": %s, "first_ts": %s, "last_ts": %s, '
      .. '"client_state": %s, "server_state": %s, "c2s": %s, "s2c": %s}',
    endpoint(i.client), endpoint(i.server), table.concat(i.vlan, ", "), quoted[i.handshake],
    first, (ts(i.last_ts_ns)), quoted[i.cli.state], quoted[i.svr.state],
    dir_json(c2s, i.svr.ngaps_total > 0 and flow:gaps(mos.SIDE_SVR) or NO_GAPS, i.svr, "@c2s"),
    dir_json(s2c, i.cli.ngaps_total > 0 and flow:gaps(mos.SIDE_CLI) or NO_GAPS, i.cli, "@s2c"))
  -- the sort key's fields are joined by \1, below every byte they hold, so
  -- byte order of whole records is the order of (first_ts, client, server, id)
  part():write(table.concat({ first_key, i.client, i.server, string.format("%020.0f", i.id) }, "\1"),
    "\t", c2s.file:sub(1, -5), "\t", c2s.created and "c" or "-", s2c.created and "s" or "-", "\t", line, "\n")
end)

local function part_name(core) return string.format("%s/.flows.%d.part", out, core) end

-- Records go to this core's part file as they come, not into Lua memory: a
-- million similar strings kept alive made LuaJIT's string interning and GC
-- slower with every record (1M connections: ~30 s instead of a few).
local part_fh
function part() -- the local declared at the top
  if part_fh == nil then
    part_fh = assert(io.open(part_name(mos.core_id), "w"))
    part_fh:setvbuf("full", 1048576)
  end
  return part_fh
end

mos.on_exit(function()
  if part_fh then part_fh:close() end
  part_fh = false
end)

-- The merge: the part files' records are sorted byte-wise (LuaJIT compares
-- strings byte by byte; each record starts with its unique sort key), then
-- one pass numbers the stream files and writes flows.jsonl. In Lua rather
-- than by sort(1): a child process at the end of a live run failed now and
-- then (test_live_mirror), and 1M records sort here in seconds.
mos.on_finish(function()
  local names, recs = {}, {}
  for core = 0, mos.ncores - 1 do
    local pf = io.open(part_name(core), "r")
    if pf then
      pf:close(); names[#names + 1] = part_name(core)
      for r in io.lines(part_name(core)) do recs[#recs + 1] = r end
    end
  end
  table.sort(recs)
  local f = assert(io.open(out .. "/flows.jsonl", "w"))
  if #names > 0 then
    for _, p in ipairs(names) do os.remove(p) end
    local rename, dir, n = os.rename, out .. "/", 0
    for _, r in ipairs(recs) do
      n = n + 1
      local base, files, line = r:match("^[^\t]*\t([^\t]*)\t([^\t]*)\t(.*)$")
      local name = string.format("%06d", n)
      if files:sub(1, 1) == "c" then
        assert(rename(dir .. base .. ".c2s", dir .. name .. ".c2s"))
        line = line:gsub("@c2s", name .. ".c2s", 1)
      end
      if files:sub(2, 2) == "s" then
        assert(rename(dir .. base .. ".s2c", dir .. name .. ".s2c"))
        line = line:gsub("@s2c", name .. ".s2c", 1)
      end
      f:write(line, "\n")
    end
  end
  f:close()
end)
