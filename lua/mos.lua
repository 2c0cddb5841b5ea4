-- mos: the scripting API of mos-lua (see lua/README.md).
--
-- A thin, checked facade over mos.runtime: misuse raises error(msg, 2) so
-- the script's own line is blamed; expected failures return nil, err.
local ffi = require "ffi"
local R = require "mos.runtime"
local json = require "mos.json"

local C = ffi.C

local mos = {}

for name, id in pairs(R.EVENTS) do mos[name] = id end
mos.HK_SND, mos.HK_RCV, mos.HK_NONE = R.HK_SND, R.HK_RCV, R.HK_NONE
mos.SIDE_CLI, mos.SIDE_SVR = R.SIDE_CLI, R.SIDE_SVR
mos.STATES = {}
for i = 0, 10 do
  local n = ffi.string(C.mos_state_name(i))
  mos[n] = i
  mos.STATES[i] = n
end
mos.event_name = function(ev) return R.EVENT_NAMES[ev] or (type(ev) == "number" and ev >= R.UDE_FIRST and "UDE") or "?" end

-- ORPHAN's arg: why the stack did not take the packet (core/mos_abi.h)
mos.ORPHAN_NO_FLOW = tonumber(C.MOS_ORPHAN_NO_FLOW)
mos.ORPHAN_BAD_IP_CHECKSUM = tonumber(C.MOS_ORPHAN_BAD_IP_CHECKSUM)
mos.ORPHAN_BAD_TCP_CHECKSUM = tonumber(C.MOS_ORPHAN_BAD_TCP_CHECKSUM)

mos.param = R.params
mos.core_id = R.core_id
mos.ncores = R.ncores

function mos.now() return R.now_s() end

function mos.socket(kind)
  local s = R.new_socket(kind, 2) -- not a tail call: level 2 must be this frame
  return s
end

-- A stream matcher: mos.matcher{ "literal", { regex = "...", id = 7 } } or
-- mos.matcher(path); m:scan(flow, side) iterates (id, offset). lua/README.md.
local new_matcher = require "mos.matcher"
function mos.matcher(spec)
  local m = new_matcher(spec, 2) -- not a tail call: error levels count this frame
  return m
end

-- The packet being processed, as flow:lastpkt() gives it, for handlers
-- that have no flow (ORPHAN, raw sockets); nil, "no packet" outside one.
function mos.packet() return require("mos.flow").methods.lastpkt(nil) end

-- A user-defined event on `base`: filter_fn(flow, side, arg) -> bool.
function mos.define_event(base, filter_fn, arg)
  if type(base) ~= "number" or C.mos_event_valid(R.core, base) ~= 1 then
    error("mos.define_event: unknown base event " .. tostring(base), 2)
  end
  if type(filter_fn) ~= "function" then
    error("mos.define_event: filter must be a function, got " .. type(filter_fn), 2)
  end
  local fid = R.id_of(filter_fn)
  local key = R.filter_arg_key(arg)
  local ev = R.check(C.mos_event_define(R.core, base, fid, key), "mos.define_event", 2)
  R.ref(fid) -- UDEs live as long as the core
  return ev
end

function mos.raise_event(flow, side, ev)
  if not ffi.istype("struct mos_flow *", flow) then error("mos.raise_event: expected a flow", 2) end
  if side ~= 0 and side ~= 1 then error("mos.raise_event: bad side " .. tostring(side), 2) end
  if type(ev) ~= "number" or ev < R.UDE_FIRST or C.mos_event_valid(R.core, ev) ~= 1 then
    error("mos.raise_event: not a user-defined event: " .. tostring(ev), 2)
  end
  R.raise(flow, side, ev, 2)
end

-- One-shot timer on the packet clock (offline) or the wall clock (live).
-- Returns a handle: h:cancel() (true if it was still pending), h:pending().
function mos.timer(seconds, fn, flow)
  if type(seconds) ~= "number" or seconds < 0 or seconds ~= seconds then
    error("mos.timer: bad delay " .. tostring(seconds), 2)
  end
  if type(fn) ~= "function" then error("mos.timer: expected a function", 2) end
  if flow ~= nil and not ffi.istype("struct mos_flow *", flow) then error("mos.timer: bad flow", 2) end
  return R.timer(seconds, fn, flow, 2)
end

local function caller(level)
  local info = debug.getinfo(level + 1, "Sl")
  return info and (info.short_src .. ":" .. tostring(info.currentline)) or "?"
end

-- mos.log("fmt", ...) or mos.log({msg=..., any=fields}[, order]): one JSON
-- line; keys in `order` come first (after ts, level, core, msg).
function mos.log(a, ...)
  if type(a) == "table" then
    local order = ...
    if order ~= nil and type(order) ~= "table" then error("mos.log: order must be a list of keys", 2) end
    local rec = {}
    for k, v in pairs(a) do rec[k] = v end
    R.log_record(rec, true, order, caller(2))
  elseif type(a) == "string" then
    R.log_record({ msg = select("#", ...) > 0 and string.format(a, ...) or a }, true, nil, caller(2))
  else
    error("mos.log: expected a format string or a table", 2)
  end
end

function mos.stats()
  local n = C.mos_counters_count()
  local buf = ffi.new("uint64_t[?]", n)
  C.mos_counters_get(R.core, buf, n)
  local t = {}
  for i = 0, n - 1 do t[ffi.string(C.mos_counters_name(i))] = tonumber(buf[i]) end
  t.lua_mem_kb = collectgarbage("count")
  t.lua_live_functions = R.live_ids()
  local he = {}
  for where, cnt in pairs(R.handler_errors) do he[where] = cnt end
  t.lua_handler_errors = he
  return t
end

function mos.on_exit(fn)
  if type(fn) ~= "function" then error("mos.on_exit: expected a function", 2) end
  R.on_exit[#R.on_exit + 1] = fn
end

-- fn() runs once, in core 0's state, after every core's loop has ended
-- (and every core's on_exit ran): the place to merge per-core output.
function mos.on_finish(fn)
  if type(fn) ~= "function" then error("mos.on_finish: expected a function", 2) end
  R.on_finish[#R.on_finish + 1] = fn
end

-- fn() runs in this core's state when SIGUSR1 arrives (between two steps,
-- after the --stats dump). Only USR1: HUP reloads, INT/TERM stop.
function mos.on_signal(name, fn)
  if name ~= "USR1" then error("mos.on_signal: only \"USR1\" can be handled, got " .. tostring(name), 2) end
  if type(fn) ~= "function" then error("mos.on_signal: expected a function", 2) end
  R.on_usr1[#R.on_usr1 + 1] = fn
end

-- JSON (lua/mos/json.lua): encode(v[, order]) keeps every number exact
-- (64-bit cdata integers too), writes keys in a stable order and raises at
-- the caller's line on what JSON cannot hold; decode(text) -> value, or
-- nil, err.
mos.json = {
  encode = function(v, order)
    if order ~= nil and type(order) ~= "table" then error("mos.json.encode: order must be a list of keys", 2) end
    local ok, s = pcall(json.encode_raw, v, order)
    if not ok then error("mos.json.encode: " .. tostring(s), 2) end
    return s
  end,
  decode = function(text)
    if type(text) ~= "string" then error("mos.json.decode: expected a string", 2) end
    local ok, v = pcall(json.decode, text)
    if ok then return v end
    return nil, tostring(v)
  end,
  null = json.null,
  empty_array = json.empty_array,
}

-- A file the script depends on: a change reloads the script, or with fn
-- calls fn(path) (also once now, so the script loads it the same way).
function mos.watch(path, fn)
  if type(path) ~= "string" then error("mos.watch: expected a file path", 2) end
  if fn ~= nil and type(fn) ~= "function" then error("mos.watch: fn must be a function", 2) end
  local f = io.open(path, "rb")
  if not f then error("mos.watch: cannot read " .. path, 2) end
  f:close()
  R.watch(path, fn)
  if fn then return fn(path) end
end

-- A set of IPv4/IPv6 prefixes: mos.cidr{"10.0.0.0/8", "2001:db8::/32"}
-- -> s:match(addr or "ip:port") gives the longest matching prefix or nil;
-- s:add(prefix). lua/mos/cidr.lua.
local cidr = require "mos.cidr"
function mos.cidr(list) return cidr.new(list, 1) end -- a tail call: level 1 is the caller

-- Tests only: reload a script as SIGHUP would. Returns true or nil, err.
function mos._reload(path) return R.request_reload(path) end

return mos
