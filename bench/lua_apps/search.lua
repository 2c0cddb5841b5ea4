-- search.lua - reassembly + needle search benchmark app for mos-lua.
--
-- Both directions are reassembled; on CONN_NEW_DATA the receiving side's new
-- bytes are moved with flow:read(side, buf, n) (consuming, zero-copy into an
-- FFI buffer: the shape of mtcp_peek in bench/c_apps/search.c) and searched
-- with libc memmem. The last #needle-1 bytes of each direction are kept in
-- a per-flow FFI array (in flow.ctx) and copied in front of the new bytes, so
-- a needle straddling two reads is found exactly once (no match fits wholly
-- inside the carry).
-- search_str.lua is the same app with flow:peek strings and string.find.
--
-- Parameters: needle=STRING (default MOSBENCH-NEEDLE-5e1d); udes=N defines
-- N extra user-defined events nested on CONN_NEW_DATA, each with a cheap
-- filter that never fires and a handler, for the event-scaling series: the
-- cost measured is the dispatcher's, per event and per UDE.
local mos = require "mos"
local ffi = require "ffi"

pcall(ffi.cdef, "void *memmem(const void *h, size_t hl, const void *n, size_t nl);")
local C = ffi.C

local param = mos.param or {}
local needle = param.needle or "MOSBENCH-NEEDLE-5e1d"
local nlen = #needle
local keep = nlen - 1
assert(nlen >= 1 and keep <= 255, "search.lua: the needle must be 1..256 bytes")
local udes = tonumber(param.udes or 0) or 0

local CHUNK = 16384
local buf = ffi.new("uint8_t[?]", CHUNK + nlen) -- carry, then the new bytes
local data = buf + keep                            -- new bytes start here
local ndl = ffi.new("uint8_t[?]", nlen)
ffi.copy(ndl, needle, nlen)

local sock = mos.socket("stream")
local hits, flows, ude_fired = 0, 0, 0

-- Loops are kept off the common path (no match, one read): a loop met
-- while LuaJIT records the dispatch path aborts the trace.
local function count_rest(m, stop) -- m: a match; count it and the later ones
  local p = ffi.cast("uint8_t *", m)
  local e = buf + stop
  while p ~= nil do
    hits = hits + 1
    p = p + 1
    local left = e - p
    if left < nlen then break end
    p = ffi.cast("uint8_t *", C.memmem(p, left, ndl, nlen))
  end
end

-- Per-flow state, like the C app's struct: for each direction the carry
-- (the last #needle-1 bytes seen) in one FFI byte array per flow, made at
-- the flow's first data: [len][keep bytes] per side. A Lua string per
-- delivery (search_str.lua's way) costs an interned allocation per event.
local SLOT = keep + 1
local function state_of(flow)
  local ctx = flow.ctx
  local st = ctx.st
  if st == nil then
    st = ffi.new("uint8_t[?]", 2 * SLOT) -- zeroed: no carry yet
    ctx.st = st
  end
  return st
end

-- The n new bytes are at `data`; the carry is copied right before them, so
-- carry .. data is one contiguous haystack.
local function scan(st, side, n)
  local base = side * SLOT
  local nc = st[base]
  local start = keep - nc
  if nc > 0 then ffi.copy(buf + start, st + base + 1, nc) end
  local stop = keep + n
  if stop - start >= nlen then
    local m = C.memmem(buf + start, stop - start, ndl, nlen)
    if m ~= nil then count_rest(m, stop) end
  end
  -- new carry: the last `keep` bytes of carry .. new bytes
  local have = stop - start
  local k = have < keep and have or keep
  st[base] = k
  if k > 0 then ffi.copy(st + base + 1, buf + stop - k, k) end
end

local function drain_rest(flow, side)
  while true do
    local n = flow:read(side, data, CHUNK)
    if not n or n == 0 then return end
    scan(state_of(flow), side, n)
    if n < CHUNK then return end
  end
end

local function drain(flow, side)
  local n = flow:read(side, data, CHUNK)
  if not n or n == 0 then return end
  scan(state_of(flow), side, n)
  if n == CHUNK then drain_rest(flow, side) end
end

sock:on(mos.CONN_NEW_DATA, mos.HK_RCV, drain)

sock:on(mos.CONN_END, mos.HK_SND, function(flow, side)
  -- bytes that came with the flow's last packet may still be unread
  drain(flow, mos.SIDE_CLI or 0)
  drain(flow, mos.SIDE_SVR or 1)
  flows = flows + 1
end)

-- Event-scaling series: N UDEs on CONN_NEW_DATA. The filter reads one
-- flow.ctx field that is never set, so it is as cheap as a filter can be
-- while still looking at the flow, and the handler never runs.
for k = 1, udes do
  local ev = mos.define_event(mos.CONN_NEW_DATA, function(flow, side)
    return flow.ctx.ude_tag == k
  end)
  sock:on(ev, mos.HK_RCV, function(flow, side)
    ude_fired = ude_fired + 1
  end)
end

local function report()
  print("needles " .. hits)
  print("flows " .. flows)
  if udes > 0 then print("ude_fired " .. ude_fired) end
end

if mos.on_exit then mos.on_exit(report) else on_exit = report end -- luacheck: ignore
