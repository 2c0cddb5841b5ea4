-- mos.loop: one core's main loop, entered once from host/lua_worker.c.
--
-- Lua drives: pull a batch of events from the engine (mos_core_step),
-- dispatch every event to the Lua handlers, repeat. Between two steps -- and
-- only there, so no packet is split or processed twice -- it acts on
-- signals: SIGHUP or a --watch change (noticed by the host's monitor
-- thread, host/watchdog.c) reloads the script, SIGUSR1 dumps the stats
-- and runs the script's mos.on_signal("USR1") functions,
-- SIGINT/SIGTERM stop the input. Every MEM_EVERY steps it republishes the
-- Lua heap size for the --stats file.
local ffi = require "ffi"
local R = require "mos.runtime"

local C = ffi.C
local M = {}

local EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2
local MEM_EVERY = 1024 -- steps between two publications of the Lua heap size

local function log_err(msg, extra)
  local rec = extra or {}
  rec.level, rec.msg = "error", msg
  R.log_record(rec)
end

local pending_reload = nil

function R.request_reload(path)
  pending_reload = path or R.script
  return true
end

local function do_reload(path)
  local ok, err = R.load_script(path, true)
  if ok then
    -- Compiled traces keep the prototypes (and constants) of the replaced
    -- script's functions alive until the trace cache fills: Lua heap that
    -- no collection returns (11 KB per applied reload with
    -- tests/e2e/reload/storm.lua). Flushing frees them now; the hot paths
    -- recompile within the next packets.
    jit.flush()
    R.log_record({ level = "info", msg = "script reloaded", script = path })
    return true
  end
  log_err("reload failed, keeping the running script", { script = path, error = tostring(err) })
  return nil, err
end

-- core.checksum = auto accepts the checksums that transmit offload leaves in
-- captures taken on the sending host; say so, since such a capture would
-- otherwise look clean.
local function notice_offload(core)
  local n = C.mos_counters_count()
  local vals = ffi.new("uint64_t[?]", n)
  C.mos_counters_get(core, vals, n)
  for i = 0, n - 1 do
    if ffi.string(C.mos_counters_name(i)) == "checksum_offload_suspected" and vals[i] > 0 then
      io.stderr:write(string.format("mos-lua: note: core %d: %d packets carried checksums that look like "
        .. "checksum offload (capture taken on the sending host); accepted under core.checksum = auto\n",
        R.core_id, tonumber(vals[i])))
    end
  end
end

function M.main(opts)
  R.init(opts)
  local mos = require "mos"
  mos.core_id = R.core_id
  mos.ncores = R.ncores
  local ok, err = R.load_script(opts.script, false)
  if not ok then
    io.stderr:write("mos-lua: ", tostring(err), "\n")
    return EXIT_USAGE
  end
  if opts.check then return EXIT_OK end

  local core, host = R.core, R.host
  local evp = ffi.new("const struct mos_event *[1]")
  local dispatch, end_batch = R.dispatch, R.end_batch
  local progress = R.progress
  local steps = 0
  local rc = EXIT_OK
  local stopping = false
  local watching = not opts.check
  while true do
    if host ~= nil then
      local sig = C.mos_host_signals(host, R.core_id)
      if sig ~= 0 then
        if bit.band(sig, 1) ~= 0 then pending_reload = pending_reload or R.script end
        if bit.band(sig, 2) ~= 0 then
          C.mos_host_write_stats(host, R.core_id, collectgarbage("count"))
          R.run_on_usr1()
        end
        if bit.band(sig, 4) ~= 0 and not stopping then
          -- stop reading; the following steps end every flow (CONN_END)
          R.log_record({ level = "warn", msg = "stopping on signal" })
          stopping = true
          C.mos_core_stop(core)
        end
      end
    end
    steps = steps + 1
    if steps >= MEM_EVERY then
      steps = 0
      progress.lua_kb = collectgarbage("count")
    end
    if watching and R.watches[1] ~= nil and R.poll_watches() then
      pending_reload = pending_reload or R.script
    end
    if pending_reload then
      local p = pending_reload
      pending_reload = nil
      do_reload(p)
    end
    local n = C.mos_core_step(core, evp)
    if n < 0 then
      local msg = ffi.string(C.mos_core_error(core))
      -- the workers of one capture all meet its end: say it once
      local say = host == nil or C.mos_host_once(host, msg) ~= 0
      if n ~= C.MOS_E_EOF or C.mos_core_input_status(core) < 0 then
        if say then io.stderr:write("mos-lua: input error: ", msg, "\n") end
        rc = EXIT_RUNTIME
      elseif msg ~= "" and say then
        io.stderr:write("mos-lua: warning: ", msg, "\n")
      end
      break
    end
    local evs = evp[0]
    for i = 0, n - 1 do dispatch(evs[i]) end
    end_batch()
  end
  R.run_on_exit()
  if not R.quiet then notice_offload(core) end
  return rc
end

-- Called by the host in core 0's state once every core's loop has ended.
function M.finish()
  if R.run_on_finish() then return EXIT_OK end
  return EXIT_RUNTIME
end

return M
