-- reload_pause.lua: what one SIGHUP reload costs the packet path, and the
-- longest stall outside reloads (bench/reload_pause.sh).
--
--   mos-lua -r CAP -s hup_at=N -s out=FILE bench/lua_apps/reload_pause.lua
--
-- Counts packets (PKT_IN) and stamps the monotonic clock every 1000th into
-- an FFI array; at packet hup_at it sends itself SIGHUP, so the host
-- reloads this same script between two steps (the count and the stamps
-- live in one global table, which reloads keep). At exit it writes JSON:
-- the median time per 1000 packets, the interval holding the reload, the
-- excess over the median of it and the 19 after it (recompilation), and the
-- longest interval outside those (after the first 10% of the stamps, so
-- warm-up does not count), with the tracked-flow count at the reload.
local mos = require "mos"
local ffi = require "ffi"
pcall(ffi.cdef, [[
int kill(int pid, int sig);
int getpid(void);
struct rp_timespec { long tv_sec; long tv_nsec; };
int clock_gettime(int clk, struct rp_timespec *ts);
]])
local C = ffi.C
local P = mos.param
local MAXST = 1000000

local g = rawget(_G, "reload_pause")
if g == nil then
  g = { n = 0, k = 0, st = ffi.new("double[?]", MAXST), ts = ffi.new("struct rp_timespec"),
        hup_at = tonumber(P.hup_at) or 0, hup_stamp = -1, loads = 0, flows_at_hup = 0 }
  rawset(_G, "reload_pause", g)
end
g.loads = g.loads + 1

local function now_ms()
  C.clock_gettime(1, g.ts)
  return tonumber(g.ts.tv_sec) * 1e3 + tonumber(g.ts.tv_nsec) / 1e6
end

local s = mos.socket("stream")
s:on(mos.PKT_IN, mos.HK_SND, function()
  local n = g.n + 1
  g.n = n
  if n % 1000 == 0 and g.k < MAXST then
    g.st[g.k] = now_ms()
    g.k = g.k + 1
  end
  if n == g.hup_at then
    g.hup_stamp = g.k -- the reload falls in the interval ending at this stamp
    g.flows_at_hup = mos.stats().flows_active
    C.kill(C.getpid(), 1)
  end
end)

mos.on_exit(function()
  local iv = {}
  for i = 1, g.k - 1 do iv[i] = g.st[i] - g.st[i - 1] end
  local from = math.max(1, math.floor(#iv / 10))
  local sorted, steady, steady_at = {}, 0, -1
  for i = from, #iv do sorted[#sorted + 1] = iv[i] end
  table.sort(sorted)
  local median = sorted[math.floor(#sorted / 2) + 1] or 0
  -- after a reload the hot paths recompile (loop.lua flushes the traces):
  -- its cost is the excess over the median of the AFTER intervals from it
  local AFTER, excess = 20, 0
  for i = from, #iv do
    local near = g.hup_stamp > 0 and i >= g.hup_stamp and i < g.hup_stamp + AFTER
    if near then excess = excess + math.max(0, iv[i] - median)
    elseif iv[i] > steady then steady, steady_at = iv[i], i end
  end
  local f = assert(io.open(P.out, "w"))
  f:write(mos.json.encode({
    packets = g.n, stamps = g.k, loads = g.loads, flows_at_hup = g.flows_at_hup,
    median_ms_per_1000 = median,
    p99_ms_per_1000 = sorted[math.floor(#sorted * 0.99) + 1] or 0,
    reload_interval_ms = g.hup_stamp > 0 and iv[g.hup_stamp] or -1,
    reload_excess_ms = excess, -- over the median, the reload's interval and the next 19
    steady_max_ms = steady, steady_max_at_packet = steady_at * 1000,
  }), "\n")
  f:close()
end)
