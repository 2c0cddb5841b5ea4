-- mos.runtime: the per-core state behind the `mos` module.
--
-- One LuaJIT state runs one core, so module-level state here IS per-core
-- state. It owns:
--   * identities: every Lua function handed to the engine (handler, UDE
--     filter, timer) gets a small integer id, the same id for the same
--     function object, so flows that register the same function share one
--     event tree. ids are reference counted and forgotten when unused.
--   * dispatch: walking a flattened event tree (core/mos_abi.h) for each
--     event returned by mos_core_step, with every handler and filter call in
--     pcall, errors counted and logged rate-limited, and three plain
--     stores per call into the host's progress block (host/mos_host.h) from
--     which the host's watchdog thread detects a call running past
--     lua.handler_timeout (host/watchdog.c).
--   * per-flow Lua data: flow.ctx in an array indexed by the flow's slot
--     in the engine's flow table (core/flow.h), checked against the flow id
--     because slots are reused; per-flow registrations keyed by the flow id,
--     which the engine never reuses. Both dropped after the flow's CONN_END
--     batch.
--   * scripts: loading in a fresh environment, and reloading with the
--     socket-level registrations swapped atomically between two steps.
local ffi = require "ffi"
local abi = require "mos.abi"
local json = require "mos.json"

local C = ffi.C
local tonumber, type, pcall, error, tostring = tonumber, type, pcall, error, tostring

local R = {
  core = nil,          -- struct mos_core *
  host = nil,          -- struct mos_host * (nil outside the mos-lua program)
  core_id = 0,
  params = {},
  log_level = 1,
}

R.EVENTS = {
  PKT_IN = 0, CONN_START = 1, CONN_NEW_DATA = 2, CONN_END = 3, TCP_STATE_CHANGE = 4,
  REXMIT = 5, REXMIT_INCONSISTENT = 6, GAP = 7, ORPHAN = 8, ERROR = 9,
}
R.EVENT_NAMES = {}
for k, v in pairs(R.EVENTS) do R.EVENT_NAMES[v] = k end
R.UDE_FIRST = 32
R.HK_SND, R.HK_RCV, R.HK_NONE = 0, 1, 2
R.HOOK_NAMES = { [0] = "HK_SND", [1] = "HK_RCV", [2] = "HK_NONE" }
R.SIDE_CLI, R.SIDE_SVR = 0, 1
R.SOCK_STREAM, R.SOCK_RAW = 1, 2

---------------------------------------------------------------- logging

local LEVELS = { error = 0, warn = 1, info = 2, debug = 3 }

-- Hand one encoded line (no newline) to the log output: the host's sink
-- (log.output, host/log_sink.c: one FFI call that copies the line into a
-- bounded queue and never waits for the output), or stderr outside the host.
function R.emit_line(line)
  if R.host ~= nil then
    C.mos_log_write(R.host, line, #line)
  else
    io.stderr:write(line, "\n")
  end
end

function R.now_s()
  if R.core == nil then return 0 end
  return tonumber(C.mos_core_now(R.core)) / 1e9
end

-- One JSON object per line (mos/json.lua): "ts" first, then "level",
-- "core", "msg", then the keys named in `order`, then the others sorted.
-- `rec.level` defaults to "info". Script records (from_script) are the
-- script's output: only -q (errors only) filters them; the runtime's own
-- records follow log.level. `where` ("file:line") names the script line in
-- the error record that replaces an unencodable record. Before the first
-- packet there is no packet time: ts is then the wall clock.
local LOG_ORDER = { "level", "core", "msg" }

function R.log_record(rec, from_script, order, where)
  local level = rec.level or "info"
  local limit = from_script and (R.quiet and 0 or 3) or R.log_level
  if (LEVELS[level] or 2) > limit then return end
  rec.level = level
  rec.core = R.core_id
  local ts = rec.ts
  rec.ts = nil
  local o = LOG_ORDER
  if order then
    o = { "level", "core", "msg" }
    for i = 1, #order do o[#o + 1] = order[i] end
  end
  local ok, body = pcall(json.encode_raw, rec, o)
  if not ok then
    body = json.encode_raw({ level = "error", core = R.core_id, msg = "unencodable log record", where = where,
                             error = tostring(body) }, LOG_ORDER)
    ts = nil
  end
  local tss
  if type(ts) == "number" and ts == ts and ts ~= math.huge and ts ~= -math.huge then
    tss = json.number(ts)
  elseif R.core ~= nil and C.mos_core_now(R.core) ~= 0 then
    tss = string.format("%.6f", R.now_s())
  else
    tss = tostring(os.time())
  end
  R.emit_line('{"ts":' .. tss .. (body == "{}" and "}" or "," .. body:sub(2)))
end

---------------------------------------------------------------- identities

local fn_to_id = setmetatable({}, { __mode = "k" })
local id_to_fn = {}
local id_refs = {}
local id_where = {}
local next_id = 0

local function where_of(fn)
  local info = debug.getinfo(fn, "S")
  return info and (info.short_src .. ":" .. tostring(info.linedefined)) or "?"
end

-- The id of fn, created on first use; each successful registration holds a ref.
function R.id_of(fn)
  local id = fn_to_id[fn]
  if id == nil then
    next_id = next_id + 1
    id = next_id
    fn_to_id[fn] = id
    id_to_fn[id] = fn
    id_refs[id] = 0
    local where = where_of(fn)
    id_where[id] = where
    if R.host ~= nil then C.mos_host_name_handler(R.host, R.core_id, id, where) end
  end
  return id
end

function R.ref(id) id_refs[id] = (id_refs[id] or 0) + 1 end

function R.unref(id)
  local n = (id_refs[id] or 1) - 1
  if n <= 0 then
    local fn = id_to_fn[id]
    if fn ~= nil then fn_to_id[fn] = nil end
    id_to_fn[id], id_refs[id], id_where[id] = nil, nil, nil
  else
    id_refs[id] = n
  end
end

function R.live_ids()
  local n = 0
  for _ in pairs(id_to_fn) do n = n + 1 end
  return n
end

---------------------------------------------------------------- errors in handlers

R.handler_errors = {}     -- where -> count
local error_logged = {}   -- where -> lines logged
local drop_on_error = false

local function handler_failed(id, err, e, flow, what)
  local where = id_where[id] or "?"
  local n = (R.handler_errors[where] or 0) + 1
  R.handler_errors[where] = n
  C.mos_core_count_handler_error(R.core)
  -- first 10 per function, then one line per 1000, so a hot failing
  -- handler cannot flood the log
  if n <= 10 or n % 1000 == 0 then
    R.log_record({
      level = "error", msg = what .. " error", where = where, error = tostring(err), count = n,
      event = e and (R.EVENT_NAMES[e] or (e < 0 and "TIMER") or ("UDE " .. e)) or nil,
      flow = flow ~= nil and tonumber(flow.id) or nil,
    })
  end
  if drop_on_error and flow ~= nil then C.mos_flow_drop(R.core, flow) end
end

-- Progress for the host's watchdog (host/watchdog.c): a fresh call number
-- and the function's id before each call, 0 after it. The watchdog samples
-- them from its own thread; a call it sees running past lua.handler_timeout
-- is reported and, when interpreted, interrupted with the error "handler
-- timed out" raised inside it (so pcall below counts it like any error).
-- Set in R.init: the host's block, or a private one outside mos-lua.
local P = nil
local ncall = 0

-- Marks non-handler Lua work (script top level -1, on_exit -2, on_finish -3)
-- for the watchdog; R.mark(0) ends it.
function R.mark(id)
  ncall = ncall + 1
  P.call = ncall
  P.handler = id
end

-- e: the raised event's id (for the error report); flow may be nil.
local function call_fn(id, what, e, flow, a, b, c, d)
  local fn = id_to_fn[id]
  if fn == nil then return nil end
  ncall = ncall + 1
  P.call = ncall
  P.handler = id
  local ok, res = pcall(fn, a, b, c, d)
  P.handler = 0
  if not ok then
    handler_failed(id, res, e, flow, what)
    return nil
  end
  return res
end
R.call_fn = call_fn

---------------------------------------------------------------- flows

local new_tab_early = require "table.new"

-- flow.ctx: the table of the flow in slot s is ctxs[2s+1], and ctxs[2s+2]
-- is the id of the flow it belongs to (0 when none): a flow's ctx costs one
-- array read and one compare, the pair sits in one cache line, and the
-- array neither grows with the number of flows ever seen (slots are reused)
-- nor hashes anything. The id check matters because a slot's next flow may
-- reach Lua before an ended flow's ctx is dropped (a flow that ended
-- without its CONN_END reaching Lua, e.g. one seen only by a raw socket):
-- the stale table is then simply replaced. Freed slots hold false/0 rather
-- than nil so the array part stays dense and is never shrunk by a rehash.
local ctxs = new_tab_early(2 * 4096, 0)
R.ctxs = ctxs
R.flow_regs = {}    -- flow id -> list of {event, hook, id}
local ended_slot, ended_id = {}, {} -- flows whose CONN_END was in this batch
local nended = 0

-- The flow seen last is remembered: a dispatch reads its flow's ctx from
-- every handler and filter, and at 100k+ flows the array entry is a cache
-- miss each time (natural search: 26% more CPU without the memo).
local memo_id, memo_t = -1, nil

function R.ctx_of(f)
  local id = tonumber(f.id)
  if id == memo_id then return memo_t end
  local i = 2 * f.slot + 1
  local t = ctxs[i]
  if ctxs[i + 1] ~= id then
    t = {}
    ctxs[i], ctxs[i + 1] = t, id
  end
  memo_id, memo_t = id, t
  return t
end

local timers_of_flow_end
local script_traceback

-- Number of live flow.ctx tables (tests, stats).
function R.ctx_count()
  local n = 0
  for i = 2, #ctxs, 2 do if ctxs[i] ~= 0 and ctxs[i] ~= nil then n = n + 1 end end
  return n
end

local function flow_end(slot, fid)
  timers_of_flow_end(fid)
  local i = 2 * slot + 1
  if ctxs[i + 1] == fid then ctxs[i], ctxs[i + 1] = false, 0 end
  if fid == memo_id then memo_id, memo_t = -1, nil end
  local regs = R.flow_regs[fid]
  if regs then
    for k = 1, #regs do R.unref(regs[k][3]) end
    R.flow_regs[fid] = nil
  end
end

---------------------------------------------------------------- dispatch

R.raw_socks = {}    -- socket id -> true for raw monitor sockets
R.filter_args = {}  -- filter_arg key -> Lua value
local filter_arg_next = 0

function R.filter_arg_key(v)
  filter_arg_next = filter_arg_next + 1
  R.filter_args[filter_arg_next] = v
  return filter_arg_next
end

local null = nil

-- Trees with UDEs are walked from a Lua copy ("plan") of their flattened
-- nodes: arrays of plain numbers, the filter arguments resolved, built once
-- per tree. Reading the cdata nodes instead cost a u64->number conversion
-- per field and a filter_args lookup per node on every event, for every
-- flow sharing the tree.
-- Validity: a tree never changes while it lives (core/event_tree.c), but
-- the engine frees released trees from its LRU and malloc may hand the
-- address to another tree; a plan is keyed by the address and kept only
-- while the tree there has the same id (the hash of its pair set, which
-- with the append-only UDE registry determines the flattened form), node
-- and pair counts. The cache is simply emptied when it grows past
-- PLANS_MAX, so plans of long-freed trees cannot pile up.
local PLANS_MAX = 4096
local plans = {}
local nplans = 0
local new_tab = require "table.new"

local function plan_of(t, addr)
  local n, nh = t.nnodes, t.npairs
  local filt, farg, skip, event = new_tab(n, 0), new_tab(n, 0), new_tab(n, 0), new_tab(n, 0)
  local hfirst, hcount, hid = new_tab(n, 0), new_tab(n, 0), new_tab(nh, 0)
  local fargs = R.filter_args
  for i = 0, n - 1 do
    local node = t.nodes[i]
    filt[i] = tonumber(node.filter)
    farg[i] = fargs[tonumber(node.filter_arg)] -- nil when the UDE has no argument
    skip[i] = tonumber(node.skip)
    event[i] = tonumber(node.event)
    hfirst[i] = tonumber(node.first_handler)
    hcount[i] = tonumber(node.nhandlers)
  end
  for h = 0, nh - 1 do hid[h] = tonumber(t.handlers[h]) end
  if nplans >= PLANS_MAX then plans, nplans = {}, 0 end
  local p = { id = ffi.new("uint64_t", t.id), nnodes = n, npairs = nh, filt = filt, farg = farg,
              skip = skip, event = event, hfirst = hfirst, hcount = hcount, hid = hid }
  plans[addr] = p
  nplans = nplans + 1
  return p
end

local function plan_for(t)
  local addr = tonumber(ffi.cast("uintptr_t", t))
  local p = plans[addr]
  if p == nil or p.id ~= t.id or p.nnodes ~= t.nnodes or p.npairs ~= t.npairs then
    p = plan_of(t, addr)
  end
  return p
end

-- Handlers of node j run in tree order; a loop of their own, kept out of
-- walk_udes's common path (a filter that is false).
local function run_handlers(p, j, e, flow, side, arg)
  local hid, evid = p.hid, p.event[j]
  local h0 = p.hfirst[j]
  for h = h0, h0 + p.hcount[j] - 1 do
    call_fn(hid[h], "handler", e, flow, flow, side, evid, arg)
  end
end

-- The UDE part of a walk: nodes start .. stop-1 of the plan.
-- Only plain values and the flow cross into this loop: it is a trace of its
-- own, and every cdata handed to it (the event record, the tree) would be
-- boxed, i.e. allocated, on each event instead of living in registers.
local function walk_udes(p, start, stop, e, flow, side, arg)
  local filt, farg, skip = p.filt, p.farg, p.skip
  local j = start
  while j < stop do
    if call_fn(filt[j], "filter", e, flow, flow, side, farg[j]) then
      run_handlers(p, j, e, flow, side, arg)
      j = j + 1
    else
      j = skip[j]
    end
  end
end

-- The common case (one handler, no UDE below the event) runs without a
-- loop: a loop met while LuaJIT records the dispatch path aborts the trace
-- ("inner loop in root trace"), which left the per-event path interpreted.
local function walk(t, start, ev, e, flow)
  local node = t.nodes[start]
  local side = ev.side
  local arg = tonumber(ev.arg)
  local evid = node.event
  local fh, nh = node.first_handler, node.nhandlers
  if nh == 1 then
    call_fn(tonumber(t.handlers[fh]), "handler", e, flow, flow, side, evid, arg)
  elseif nh > 1 then
    local handlers = t.handlers
    for h = fh, fh + nh - 1 do
      call_fn(tonumber(handlers[h]), "handler", e, flow, flow, side, evid, arg)
    end
  end
  local stop = node.skip
  if start + 1 < stop then walk_udes(plan_for(t), start + 1, stop, e, flow, side, arg) end
end

---------------------------------------------------------------- timers

-- The engine fires a timer as an event whose arg is the timer's key; the
-- key names a pending entry here (the handler's id, the flow's id), so a
-- cancelled timer, a timer of an ended flow or one of a replaced script
-- simply has no entry any more when the engine fires it.
local timers = {}       -- key -> handle {key, id, fid}
local flow_timers = {}  -- flow id -> {key = true}
local timer_key = 0
local timer_meta = {}
timer_meta.__index = timer_meta

local function timer_forget(t)
  timers[t.key] = nil
  local ft = t.fid and flow_timers[t.fid]
  if ft then ft[t.key] = nil end
  R.unref(t.id)
end

-- handle:cancel() -> true when the timer was still pending.
function timer_meta:cancel()
  if timers[self.key] ~= self then return false end
  timer_forget(self)
  return true
end

function timer_meta:pending() return timers[self.key] == self end

function R.timer(seconds, fn, flow, level)
  local id = R.id_of(fn)
  timer_key = timer_key + 1
  local key = timer_key
  local at = C.mos_core_now(R.core) + ffi.cast("uint64_t", seconds * 1e9)
  R.check(C.mos_core_timer(R.core, flow, at, key), "mos.timer", level + 1)
  R.ref(id)
  local t = setmetatable({ key = key, id = id, fid = flow ~= nil and tonumber(flow.id) or nil }, timer_meta)
  timers[key] = t
  if t.fid then
    local ft = flow_timers[t.fid]
    if ft == nil then ft = {}; flow_timers[t.fid] = ft end
    ft[key] = true
  end
  return t
end

-- Cancel every pending timer whose key is in (lo, hi].
local function timers_cancel_range(lo, hi)
  local n = 0
  for key, t in pairs(timers) do
    if key > lo and key <= hi then timer_forget(t); n = n + 1 end
  end
  return n
end

function timers_of_flow_end(fid)
  local ft = flow_timers[fid]
  if ft == nil then return end
  flow_timers[fid] = nil
  for key in pairs(ft) do
    local t = timers[key]
    if t then timers[key] = nil; R.unref(t.id) end
  end
end

function R.pending_timers()
  local n = 0
  for _ in pairs(timers) do n = n + 1 end
  return n
end

function R.dispatch(ev)
  local flow = ev.flow
  local e = ev.event
  if e < 0 then -- timer: arg is the timer's key; one-shot
    local t = timers[tonumber(ev.arg)]
    if t == nil then return end -- cancelled
    timers[t.key] = nil
    local ft = t.fid and flow_timers[t.fid]
    if ft then ft[t.key] = nil end
    if flow == null then flow = nil end
    call_fn(t.id, "timer", e, flow, flow)
    R.unref(t.id) -- after the call: the id names the function until then
    return
  end
  local t
  if flow == null or R.raw_socks[ev.sock] then
    if flow == null then flow = nil end
    t = C.mos_socket_tree(R.core, ev.sock, ev.hook)
  else
    t = C.mos_flow_tree(R.core, flow, ev.hook)
  end
  if t ~= null then
    local start
    if e < 16 then start = t.root[e] else start = -1
      for i = 0, t.nnodes - 1 do if t.nodes[i].event == e then start = i break end end
    end
    if start >= 0 then walk(t, start, ev, e, flow) end
  end
  if e == 3 and flow ~= nil then -- CONN_END: forget the flow after this batch
    nended = nended + 1
    ended_slot[nended], ended_id[nended] = flow.slot, tonumber(flow.id)
  end
end

-- mos.raise_event: the engine queues the event for every hook whose tree
-- has it; it is dispatched at the start of the next batch.
function R.raise(flow, side, ev, level)
  R.check(C.mos_event_raise(R.core, flow, side, ev), "mos.raise_event", level + 1)
end

function R.end_batch()
  for i = 1, nended do
    flow_end(ended_slot[i], ended_id[i])
  end
  nended = 0
end

---------------------------------------------------------------- registrations

local function check(rc, what, level)
  if rc < 0 then
    error(what .. ": " .. ffi.string(C.mos_strerror(rc)), level + 1)
  end
  return rc
end
R.check = check

-- Sockets of the script being loaded. Registrations made while a script is
-- loading are collected and applied only when the whole chunk succeeded, so
-- a reload that fails halfway leaves the running script untouched.
R.loading = nil     -- {sockets = {...}, pending = {...}} while a script loads
R.sockets = {}      -- the active script's socket objects, in creation order
local sock_meta = {}
sock_meta.__index = sock_meta

function R.new_socket(kind, level)
  local ty = kind == "raw" and R.SOCK_RAW or (kind == "stream" or kind == nil) and R.SOCK_STREAM or nil
  if ty == nil then error("mos.socket: type must be \"stream\" or \"raw\", got " .. tostring(kind), level + 1) end
  local s
  local L = R.loading
  if L and L.reuse then
    -- a reload: the k-th socket of the new script takes over the k-th of the
    -- old one when the types match, so existing flows stay attached to it
    local old = L.reuse[#L.sockets + 1]
    if old and old.type == ty and not old.closed then
      s = setmetatable({ id = old.id, type = ty, regs = {}, reused = old }, sock_meta)
    end
  end
  if s == nil then
    local id = check(C.mos_socket_open(R.core, ty), "mos.socket", level + 1)
    s = setmetatable({ id = id, type = ty, regs = {}, fresh = true }, sock_meta)
    if ty == R.SOCK_RAW then R.raw_socks[id] = true end
    if ty == R.SOCK_STREAM then
      -- every flow must reach Lua at its end so its ctx is freed
      local cid = R.id_of(R.cleanup_handler)
      check(C.mos_socket_register(R.core, id, 3, R.HK_NONE, cid, 0), "mos.socket", level + 1)
      R.ref(cid)
    end
  end
  if L then L.sockets[#L.sockets + 1] = s else R.sockets[#R.sockets + 1] = s end
  return s
end

function R.cleanup_handler() end

local errbuf = ffi.new("char[256]")

function sock_meta:filter(spec)
  if type(spec) ~= "table" then error("socket:filter: expected a table {syn=..., raw=...}", 2) end
  if self.closed then error("socket:filter: socket is closed", 2) end
  local syn, raw = spec.syn, spec.raw
  if (syn ~= nil and type(syn) ~= "string") or (raw ~= nil and type(raw) ~= "string") then
    error("socket:filter: syn and raw must be BPF strings", 2)
  end
  local rc = C.mos_socket_filter(R.core, self.id, syn, raw, errbuf, 256)
  if rc < 0 then
    local msg = ffi.string(errbuf)
    error("socket:filter: " .. (msg ~= "" and msg or ffi.string(C.mos_strerror(rc))), 2)
  end
  return self
end

local function check_event(ev, what, level)
  if type(ev) ~= "number" or ev ~= math.floor(ev) or C.mos_event_valid(R.core, ev) ~= 1 then
    error(what .. ": unknown event " .. tostring(ev), level + 1)
  end
end

local function default_hook(ty, ev)
  for _, h in ipairs({ R.HK_RCV, R.HK_NONE, R.HK_SND }) do
    if C.mos_event_check_hook(R.core, ty, ev, h) == 0 then return h end
  end
  return R.HK_RCV
end

-- Normalises (event, hook, fn) / (event, fn); raises on misuse at `level`.
function R.reg_args(ty, ev, hook, fn, what, level)
  if type(hook) == "function" and fn == nil then fn, hook = hook, nil end
  check_event(ev, what, level + 1)
  if type(fn) ~= "function" then error(what .. ": handler must be a function, got " .. type(fn), level + 1) end
  if hook == nil then hook = default_hook(ty, ev) end
  if type(hook) ~= "number" or hook < 0 or hook > 2 or hook ~= math.floor(hook) then
    error(what .. ": bad hook " .. tostring(hook), level + 1)
  end
  if C.mos_event_check_hook(R.core, ty, ev, hook) ~= 0 then
    error(string.format("%s: hook %s is not valid for event %s on a %s socket", what, R.HOOK_NAMES[hook],
      R.EVENT_NAMES[ev] or tostring(ev), ty == R.SOCK_RAW and "raw" or "stream"), level + 1)
  end
  return ev, hook, fn
end

function sock_meta:on(ev, hook, fn)
  if self.closed then error("socket:on: socket is closed", 2) end
  ev, hook, fn = R.reg_args(self.type, ev, hook, fn, "socket:on", 2)
  local id = R.id_of(fn)
  local key = ev .. ":" .. hook .. ":" .. id
  if self.regs[key] then return self end
  local reg = { ev, hook, id }
  if R.loading then
    self.regs[key] = reg
    R.ref(id)
  else
    check(C.mos_socket_register(R.core, self.id, ev, hook, id, 1), "socket:on", 2)
    self.regs[key] = reg
    R.ref(id)
  end
  return self
end

function sock_meta:off(ev, hook, fn)
  if type(hook) == "function" and fn == nil then fn, hook = hook, nil end
  if hook == nil then hook = default_hook(self.type, ev) end
  local id = fn and fn_to_id[fn]
  if id == nil then return self end
  local key = ev .. ":" .. hook .. ":" .. id
  if not self.regs[key] then return self end
  if not R.loading then
    check(C.mos_socket_unregister(R.core, self.id, ev, hook, id, 1), "socket:off", 2)
  end
  self.regs[key] = nil
  R.unref(id)
  return self
end

function sock_meta:close()
  if self.closed then return end
  for key, reg in pairs(self.regs) do
    C.mos_socket_unregister(R.core, self.id, reg[1], reg[2], reg[3], 1)
    R.unref(reg[3])
    self.regs[key] = nil
  end
  C.mos_socket_close(R.core, self.id)
  self.closed = true
end

function R.flow_on(flow, ev, hook, fn, level)
  ev, hook, fn = R.reg_args(R.SOCK_STREAM, ev, hook, fn, "flow:on", level + 1)
  local id = R.id_of(fn)
  check(C.mos_flow_register(R.core, flow, ev, hook, id), "flow:on", level + 1)
  local fid = tonumber(flow.id)
  local regs = R.flow_regs[fid]
  if regs == nil then regs = {}; R.flow_regs[fid] = regs end
  for i = 1, #regs do
    local r = regs[i]
    if r[1] == ev and r[2] == hook and r[3] == id then return end
  end
  regs[#regs + 1] = { ev, hook, id }
  R.ref(id)
end

function R.flow_off(flow, ev, hook, fn, level)
  if type(hook) == "function" and fn == nil then fn, hook = hook, nil end
  if hook == nil then hook = default_hook(R.SOCK_STREAM, ev) end
  local id = fn_to_id[fn]
  if id == nil then return end
  check(C.mos_flow_unregister(R.core, flow, ev, hook, id), "flow:off", level + 1)
  local regs = R.flow_regs[tonumber(flow.id)]
  if regs then
    for i = 1, #regs do
      local r = regs[i]
      if r[1] == ev and r[2] == hook and r[3] == id then
        table.remove(regs, i)
        R.unref(id)
        break
      end
    end
  end
end

---------------------------------------------------------------- scripts

R.script = nil
R.on_exit = {}
R.on_finish = {}
R.on_usr1 = {}
R.ncores = 1

-- Apply the collected registrations of a successfully loaded script:
-- replaced sockets lose every old pair and gain the new ones, for existing
-- flows too; sockets of the old script that were not taken over are emptied.
local function commit(L)
  local old = R.sockets
  local taken = {}
  for _, s in ipairs(L.sockets) do
    if s.reused then
      taken[s.reused] = true
      for _, reg in pairs(s.reused.regs) do
        C.mos_socket_unregister(R.core, s.id, reg[1], reg[2], reg[3], 1)
        R.unref(reg[3])
      end
      if s.reused.type == R.SOCK_RAW then R.raw_socks[s.id] = true end
    end
    for _, reg in pairs(s.regs) do
      check(C.mos_socket_register(R.core, s.id, reg[1], reg[2], reg[3], 1), "socket:on", 1)
    end
  end
  for _, s in ipairs(old) do
    if not taken[s] and not s.closed then s:close() end
  end
  R.sockets = L.sockets
end

local function abort(L)
  for _, s in ipairs(L.sockets) do
    for _, reg in pairs(s.regs) do R.unref(reg[3]) end
    if s.fresh then C.mos_socket_close(R.core, s.id) end
  end
end

-- A load-time error with the stack of the script's own code only: the
-- frames of this runtime (the loader, xpcall, mos.* functions that raised
-- with the script's line) say nothing to the script's author. When only
-- the main chunk is left, the message alone is enough.
local RUNTIME_DIR = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "?")

function script_traceback(m)
  local tb = debug.traceback(tostring(m), 2)
  local msg, rest = tb:match("^(.-)\nstack traceback:\n(.*)$")
  if not msg then return tb end
  local keep = {}
  for line in rest:gmatch("[^\n]+") do
    local own = not line:find("[C]:", 1, true) and not line:find("(tail call)", 1, true)
      and not line:find(RUNTIME_DIR .. "/", 1, true) and not line:find(RUNTIME_DIR .. ".lua:", 1, true)
    if own then keep[#keep + 1] = line end
  end
  if #keep == 0 then return msg end
  if #keep == 1 then -- the main chunk alone: enough if the message names its line
    local at = keep[1]:match("^%s*(.-:%d+): in main chunk$")
    if at and msg:sub(1, #at + 1) == at .. ":" then return msg end
  end
  return msg .. "\nstack traceback:\n" .. table.concat(keep, "\n")
end

-- Load `path` in a fresh environment. Returns true, or nil and a message
-- naming file:line; on failure the previous script stays in force.
function R.load_script(path, is_reload)
  local chunk, err = loadfile(path)
  if not chunk then return nil, err end
  local env = setmetatable({}, { __index = _G })
  setfenv(chunk, env)
  local L = { sockets = {}, reuse = is_reload and R.sockets or nil }
  local saved_exit, saved_finish, saved_usr1, saved_watch = R.on_exit, R.on_finish, R.on_usr1, R.watches
  R.on_exit, R.on_finish, R.on_usr1, R.watches = {}, {}, {}, {}
  R.loading = L
  if R.host ~= nil then C.mos_host_name_handler(R.host, R.core_id, -1, "top level of " .. path) end
  local key0 = timer_key
  R.mark(-1)
  local ok, lerr = xpcall(chunk, script_traceback)
  R.mark(0)
  R.loading = nil
  if ok then
    ok, lerr = pcall(commit, L)
  end
  if not ok then
    abort(L)
    timers_cancel_range(key0, math.huge) -- the rejected script's timers never fire
    R.on_exit, R.on_finish, R.on_usr1, R.watches = saved_exit, saved_finish, saved_usr1, saved_watch
    return nil, lerr
  end
  -- a reload replaces the old script's timers (per-flow ones included) by
  -- the new script's
  if is_reload then timers_cancel_range(0, key0) end
  R.script = path
  return true
end

---------------------------------------------------------------- watched files

-- mos.watch(path[, fn]): files the script depends on (rules, lists). The
-- loop looks at their modification time and size every WATCH_EVERY_NS of
-- wall time; a change calls fn(path) (new state built and swapped by the
-- script; an error leaves the running state and is logged), or without fn
-- reloads the whole script as SIGHUP does (a load that fails, e.g. on a bad
-- rule, keeps the running script). A reload replaces the watch list by
-- the new script's.
R.watches = {}
local WATCH_EVERY_NS = 100000000
local watch_next = 0

local function file_sig(path)
  local m = C.mos_host_mtime_ns(path)
  local f = io.open(path, "rb")
  local size = f and f:seek("end") or -1
  if f then f:close() end
  return tonumber(m) .. ":" .. tostring(size)
end

function R.watch(path, fn)
  R.watches[#R.watches + 1] = { path = path, fn = fn, sig = file_sig(path) }
end

-- Called by the loop between steps; returns true when the script must be
-- reloaded.
function R.poll_watches()
  local now = C.mos_clock_mono_ns()
  if now < watch_next then return false end
  watch_next = now + WATCH_EVERY_NS
  local reload = false
  for _, w in ipairs(R.watches) do
    local sig = file_sig(w.path)
    if sig ~= w.sig then
      w.sig = sig
      if w.fn == nil then
        reload = true
      else
        R.mark(R.id_of(w.fn))
        local ok, err = pcall(w.fn, w.path)
        R.mark(0)
        if ok then
          R.log_record({ level = "info", msg = "watched file reloaded", file = w.path })
        else
          R.log_record({ level = "error", msg = "watched file rejected, keeping the running state", file = w.path,
                         error = tostring(err) })
        end
      end
    end
  end
  return reload
end

function R.run_on_exit()
  if R.host ~= nil then C.mos_host_name_handler(R.host, R.core_id, -2, "an on_exit function") end
  for _, fn in ipairs(R.on_exit) do
    R.mark(-2)
    local ok, err = pcall(fn)
    R.mark(0)
    if not ok then
      C.mos_core_count_handler_error(R.core)
      R.log_record({ level = "error", msg = "on_exit error", error = tostring(err) })
    end
  end
end

-- SIGUSR1 arrived (mos.on_signal): each function in turn, errors logged.
function R.run_on_usr1()
  for _, fn in ipairs(R.on_usr1) do
    R.mark(R.id_of(fn)) -- the watchdog names it by file:line
    local ok, err = pcall(fn)
    R.mark(0)
    if not ok then R.log_record({ level = "error", msg = "on_signal error", signal = "USR1", error = tostring(err) }) end
  end
end

-- Returns false when some on_finish function failed.
function R.run_on_finish()
  local all = true
  if R.host ~= nil then C.mos_host_name_handler(R.host, R.core_id, -3, "an on_finish function") end
  for _, fn in ipairs(R.on_finish) do
    R.mark(-3)
    local ok, err = pcall(fn)
    R.mark(0)
    if not ok then
      all = false
      R.log_record({ level = "error", msg = "on_finish error", error = tostring(err) })
    end
  end
  return all
end

---------------------------------------------------------------- setup

function R.init(opts)
  abi.load(opts.abi_dir)
  R.core = ffi.cast("struct mos_core *", opts.core)
  R.host = opts.host and ffi.cast("struct mos_host *", opts.host) or nil
  R.core_id = C.mos_core_id(R.core)
  R.ncores = opts.ncores or 1
  R.params = opts.params or {}
  local lvl = C.mos_config_log_level(R.core)
  R.quiet = opts.verbosity == 0
  if opts.verbosity == 0 then lvl = 0 elseif opts.verbosity == 2 and lvl < 3 then lvl = 3 end
  R.log_level = lvl
  drop_on_error = ffi.string(C.mos_config_on_handler_error(R.core)) == "drop"
  R.timeout_ms = C.mos_config_handler_timeout_ms(R.core)
  P = R.host ~= nil and C.mos_host_progress(R.host, R.core_id) or nil
  if P == nil then P = ffi.new("struct mos_host_progress") end
  R.progress = P
  require "mos.flow"
end

return R
