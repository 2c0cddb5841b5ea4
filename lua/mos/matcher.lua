-- mos.matcher: multi-pattern stream matching for scripts (core/stream_match.c).
--
--   local m = mos.matcher{ "MOSLUA-NEEDLE", { regex = "GET /[a-z]+\\.php", id = 7 } }
--   local m = mos.matcher("patterns.txt")       -- one pattern per line
--   for id, offset in m:scan(flow, side) do ... end
--
-- The C side scans the stream ring in place and fills an array of (id,
-- offset) pairs per scan; the iterator below walks that array, so a scan
-- allocates nothing in Lua (no closure, no table, no string). The iterator
-- state is the matcher itself: results are valid until its next scan.
local ffi = require "ffi"
local R = require "mos.runtime"

local C = ffi.C
local type, tonumber, error, tostring = type, tonumber, error, tostring

local ERRLEN = 512
local errbuf = ffi.new("char[?]", ERRLEN)
local outp = ffi.new("struct mos_matcher *[1]")
local stats_buf = ffi.new("struct mos_matcher_stats")
local flow_t = ffi.typeof("struct mos_flow *")
local info_buf = ffi.new("struct mos_ffi_flow")

local M = {}
M.__index = M

local function none() return nil end

local function step(self)
  local i = self.i
  if i < self.n then
    self.i = i + 1
    local r = self.res[i]
    return r.id, tonumber(r.off)
  end
  return nil
end

-- Iterator over the matches in the bytes of `side`'s stream that this
-- matcher has not scanned yet for `flow`.
function M:scan(flow, side)
  local n = C.mos_matcher_scan(self.m, flow, side)
  if n > 0 then
    self.res = C.mos_matcher_results(self.m)
    self.n, self.i = n, 0
    return step, self
  end
  if n == 0 then return none end
  if not ffi.istype(flow_t, flow) then error("matcher:scan: expected a flow, got " .. type(flow), 2) end
  if side ~= 0 and side ~= 1 then
    error("matcher:scan: side must be mos.SIDE_CLI or mos.SIDE_SVR, got " .. tostring(side), 2)
  end
  if C.mos_flow_info(R.core, flow, info_buf) == 0 and info_buf.side[side].buffered == 0 then
    error("matcher:scan: this side's bytes are not buffered (clibuf/svrbuf is off)", 2)
  end
  error("matcher:scan: " .. ffi.string(C.mos_strerror(n)), 2)
end

function M:stats()
  C.mos_matcher_stats(self.m, stats_buf)
  local s = stats_buf
  return {
    scans = tonumber(s.scans), bytes_scanned = tonumber(s.bytes_scanned), matches = tonumber(s.matches),
    matches_dropped = tonumber(s.matches_dropped), bytes_unscanned = tonumber(s.bytes_unscanned),
    restarts = tonumber(s.restarts), states = tonumber(s.states), patterns = s.npatterns,
    stream_size = s.stream_size,
  }
end

local KEYS = { literal = true, regex = true, id = true }

-- Patterns from a table: each entry a literal string, or
-- { literal = s | regex = s, id = n }.
local function from_table(spec, level)
  local n = #spec
  if n == 0 then error("mos.matcher: no patterns", level + 1) end
  local pats = ffi.new("struct mos_pattern[?]", n)
  local keep = {}
  for i = 1, n do
    local e, p = spec[i], pats[i - 1]
    local s, kind, id
    if type(e) == "string" then
      s, kind = e, 0
    elseif type(e) == "table" then
      for k in pairs(e) do
        if not KEYS[k] then error("mos.matcher: pattern " .. i .. ": unknown key " .. tostring(k), level + 1) end
      end
      if (e.literal == nil) == (e.regex == nil) then
        error("mos.matcher: pattern " .. i .. ": give exactly one of literal or regex", level + 1)
      end
      s, kind, id = e.literal or e.regex, e.literal and 0 or 1, e.id
      if type(s) ~= "string" then error("mos.matcher: pattern " .. i .. ": expected a string", level + 1) end
      if id ~= nil and (type(id) ~= "number" or id < 0 or id > 4294967295 or id ~= math.floor(id)) then
        error("mos.matcher: pattern " .. i .. ": id must be an integer in 0..2^32-1, got " .. tostring(id), level + 1)
      end
      if kind == 1 and s:find("\0", 1, true) then
        error("mos.matcher: pattern " .. i .. ": NUL byte in regex (write \\x00)", level + 1)
      end
    else
      error("mos.matcher: pattern " .. i .. ": expected a string or a table, got " .. type(e), level + 1)
    end
    keep[i] = s
    p.expr, p.len, p.kind = s, #s, kind
    if id ~= nil then p.id, p.has_id = id, 1 end
  end
  local rc = C.mos_matcher_new(R.core, pats, n, outp, errbuf, ERRLEN)
  keep[0] = pats -- the strings and array stay referenced through the call
  return rc
end

return function(spec, level)
  level = (level or 1) + 1
  local rc
  if type(spec) == "string" then
    rc = C.mos_matcher_load(R.core, spec, outp, errbuf, ERRLEN)
  elseif type(spec) == "table" then
    rc = from_table(spec, level)
  else
    error("mos.matcher: expected a table of patterns or a file name, got " .. type(spec), level)
  end
  if rc < 0 then
    local msg = ffi.string(errbuf)
    error("mos.matcher: " .. (msg ~= "" and msg or ffi.string(C.mos_strerror(rc))), level)
  end
  local self = setmetatable({ m = ffi.gc(outp[0], C.mos_matcher_free), n = 0, i = 0 }, M)
  return self
end
