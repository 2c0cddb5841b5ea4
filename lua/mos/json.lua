-- mos.json: JSON for log records and scripts, in a stable key order and
-- without losing numbers.
--
-- Decoding is lua-cjson's (exact: strtod). Encoding is ours, because
-- lua-cjson's encoder fits none of what a log line needs: it prints at most
-- 14 significant digits (1537728271.159812 became 1537728271.1598), refuses
-- 64-bit cdata integers (flow.id), writes keys in hash order and escapes
-- '/'. Rules here:
--   * objects: the keys named in `order` first, in that order (missing ones
--     skipped), then every other key sorted (numbers before strings), so the
--     same record always prints the same way; keys must be strings or
--     numbers;
--   * a table whose keys are exactly 1..n (n >= 1) is an array; an empty
--     table is {} (cjson.empty_array gives []); nil inside an array and
--     cjson.null give null;
--   * numbers: integers up to 2^53 as integers, others in the shortest form
--     that reads back as the same double; NaN and infinities are errors;
--   * int64_t / uint64_t cdata: exact decimal integers (no LL suffix);
--     any other cdata, functions, threads and userdata are errors;
--   * strings: '"', '\' and control bytes escaped, nothing else ('/' stays);
--     bytes pass through as they are (as lua-cjson does);
--   * nesting deeper than MAX_DEPTH is an error (a cycle, most likely).
-- Errors are raised as plain strings ("cannot encode ... at .a.b"); the
-- callers (mos.json.encode, mos.log) add the script's line.
local ffi = require "ffi"
local cjson = require "cjson"

local type, tostring, format, floor, huge = type, tostring, string.format, math.floor, math.huge
local concat, sort, pairs, next = table.concat, table.sort, pairs, next

local J = {}
local MAX_DEPTH = 100
local null, empty_array = cjson.null, cjson.empty_array

local ESC = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n",
              ["\r"] = "\\r", ["\t"] = "\\t" }
for b = 0, 31 do
  local ch = string.char(b)
  if not ESC[ch] then ESC[ch] = format("\\u%04x", b) end
end

local function str(s)
  if s:find('[%c"\\]') then s = s:gsub('[%c"\\]', ESC) end
  return '"' .. s .. '"'
end
J.quote = str

local function num(v, path)
  if v ~= v or v == huge or v == -huge then error("cannot encode " .. tostring(v) .. " at " .. path, 0) end
  if v == floor(v) and v >= -9007199254740992 and v <= 9007199254740992 then
    return format("%d", v)
  end
  local s = format("%.15g", v)
  if tonumber(s) ~= v then
    s = format("%.16g", v)
    if tonumber(s) ~= v then s = format("%.17g", v) end
  end
  return s
end
J.number = function(v) return num(v, "") end

local i64, u64 = ffi.typeof("int64_t"), ffi.typeof("uint64_t")

local function cdata(v, path)
  if ffi.istype(i64, v) or ffi.istype(u64, v) then
    return (tostring(v):gsub("U?LL$", ""))
  end
  error("cannot encode " .. tostring(ffi.typeof(v)) .. " at " .. path, 0)
end

local function keyless(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return ta == "number" end
  return a < b
end

local encode

local function is_array(t)
  local n = #t
  if n == 0 then return false end
  local k = 0
  for key in pairs(t) do
    if type(key) ~= "number" or key < 1 or key > n or key ~= floor(key) then return false end
    k = k + 1
  end
  return k == n
end

local function object(t, out, depth, path, order)
  local keys, nk, seen = {}, 0, nil
  out[#out + 1] = "{"
  local first = true
  if order then
    seen = {}
    for i = 1, #order do
      local k = order[i]
      local v = t[k]
      seen[k] = true
      if v ~= nil then
        if not first then out[#out + 1] = "," end
        first = false
        out[#out + 1] = str(tostring(k))
        out[#out + 1] = ":"
        encode(v, out, depth + 1, path .. "." .. tostring(k))
      end
    end
  end
  for k in pairs(t) do
    local tk = type(k)
    if tk ~= "string" and tk ~= "number" then
      error("cannot encode a " .. tk .. " key at " .. path, 0)
    end
    if not (seen and seen[k]) then nk = nk + 1; keys[nk] = k end
  end
  sort(keys, keyless)
  for i = 1, nk do
    local k = keys[i]
    if not first then out[#out + 1] = "," end
    first = false
    local ks = type(k) == "number" and num(k, path) or k
    out[#out + 1] = str(ks)
    out[#out + 1] = ":"
    encode(t[k], out, depth + 1, path .. "." .. ks)
  end
  out[#out + 1] = "}"
end

function encode(v, out, depth, path, order)
  local tv = type(v)
  if tv == "string" then out[#out + 1] = str(v)
  elseif tv == "number" then out[#out + 1] = num(v, path)
  elseif tv == "boolean" then out[#out + 1] = v and "true" or "false"
  elseif tv == "nil" or v == null then out[#out + 1] = "null"
  elseif v == empty_array then out[#out + 1] = "[]"
  elseif tv == "table" then
    if depth > MAX_DEPTH then error("nested deeper than " .. MAX_DEPTH .. " at " .. path .. " (a cycle?)", 0) end
    if next(v) ~= nil and is_array(v) then
      out[#out + 1] = "["
      for i = 1, #v do
        if i > 1 then out[#out + 1] = "," end
        encode(v[i], out, depth + 1, path .. "[" .. i .. "]")
      end
      out[#out + 1] = "]"
    else
      object(v, out, depth, path, order)
    end
  elseif tv == "cdata" then out[#out + 1] = cdata(v, path)
  else
    error("cannot encode a " .. tv .. " at " .. path, 0)
  end
end

-- The JSON text of v; `order` lists top-level keys to write first.
-- Raises a plain string on values JSON cannot hold.
function J.encode_raw(v, order)
  local out = {}
  encode(v, out, 0, "$", order)
  return concat(out)
end

J.decode = cjson.decode
J.null = null
J.empty_array = empty_array

return J
