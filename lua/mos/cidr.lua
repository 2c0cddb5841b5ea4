-- mos.cidr: sets of IPv4 and IPv6 prefixes, matched longest prefix first.
--
--   local lan = mos.cidr{ "10.0.0.0/8", "192.168.0.0/16", "2001:db8::/32", "198.51.100.7" }
--   lan:match("10.1.2.3")          --> "10.0.0.0/8"
--   lan:match(flow.client)         --> endpoints "a.b.c.d:port" and "[v6]:port" work too
--   lan:match("8.8.8.8")           --> nil
--
-- Design: addresses are parsed by the C library (mos_addr_parse, inet_pton)
-- into 16-byte strings; a set keeps, per family and prefix length, a table
-- from the masked address to the prefix text, so a match is one masked
-- lookup per distinct length present (at most 33 or 129), longest first.
-- A malformed prefix is an error naming it (and the index in the list).
local ffi = require "ffi"
local bit = require "bit"

local C = ffi.C
local buf = ffi.new("uint8_t[16]")

local M = {}
local set_meta = {}
set_meta.__index = set_meta

-- "a.b.c.d", "v6", "a.b.c.d:port", "[v6]:port" -> family (4|6), 16-byte string
local function parse(text)
  if type(text) ~= "string" then return nil end
  local v = C.mos_addr_parse(text, buf)
  if v < 0 then
    local inner = text:match("^%[(.+)%]:%d+$") or text:match("^(%d+%.%d+%.%d+%.%d+):%d+$")
    if not inner then return nil end
    v = C.mos_addr_parse(inner, buf)
    if v < 0 then return nil end
  end
  return v, ffi.string(buf, v == 4 and 4 or 16)
end

local function mask(addr, len)
  local full = math.floor(len / 8)
  local rest = len % 8
  if full >= #addr then return addr end
  local head = addr:sub(1, full)
  if rest == 0 then return head end
  local b = bit.band(addr:byte(full + 1), bit.band(bit.lshift(0xff, 8 - rest), 0xff))
  return head .. string.char(b)
end

-- Adds one prefix ("net/len" or a single address); raises on malformed input.
function set_meta:add(prefix, level)
  if type(prefix) ~= "string" then error("mos.cidr: prefix must be a string, got " .. type(prefix), (level or 1) + 1) end
  local a, l = prefix:match("^([^/]+)/(%d+)$")
  local v, addr = parse(a or prefix)
  if not v then error("mos.cidr: not an address: " .. prefix, (level or 1) + 1) end
  local max = v == 4 and 32 or 128
  local len = l and tonumber(l) or max
  if len > max then error("mos.cidr: prefix length beyond " .. max .. ": " .. prefix, (level or 1) + 1) end
  local fam = self[v]
  if not fam.by_len[len] then
    fam.by_len[len] = {}
    fam.lens[#fam.lens + 1] = len
    table.sort(fam.lens, function(x, y) return x > y end)
  end
  fam.by_len[len][mask(addr, len)] = prefix
  return self
end

-- The longest prefix of the set containing addr (its text as given), or nil.
function set_meta:match(addr)
  local v, a = parse(addr)
  if not v then return nil end
  local fam = self[v]
  for i = 1, #fam.lens do
    local len = fam.lens[i]
    local hit = fam.by_len[len][mask(a, len)]
    if hit then return hit end
  end
  return nil
end

function M.new(list, level)
  local s = setmetatable({ [4] = { lens = {}, by_len = {} }, [6] = { lens = {}, by_len = {} } }, set_meta)
  if list ~= nil then
    if type(list) ~= "table" then error("mos.cidr: expected a list of prefixes", (level or 1) + 1) end
    for i, p in ipairs(list) do
      local ok, err = pcall(s.add, s, p, 1)
      if not ok then error((tostring(err):gsub("^mos.cidr: ", "mos.cidr: [" .. i .. "] ")), (level or 1) + 1) end
    end
  end
  return s
end

M.parse = parse
return M
