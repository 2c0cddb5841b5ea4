-- mos.abi: the FFI declarations, built from the C headers themselves.
--
-- core/mos_abi.h, core/mos_error.h, bindings/mos_ffi.h and host/mos_host.h are written so that
-- LuaJIT can parse them once every preprocessor line is removed; reading them
-- at load time means the Lua side can never drift from the C side. The
-- directory comes from the host (MOS_ABI_DIR) or the MOS_ABI_DIR environment
-- variable.
local ffi = require "ffi"

local M = { C = ffi.C, loaded = false }

local HEADERS = { "core/mos_abi.h", "core/mos_error.h", "bindings/mos_ffi.h", "host/mos_host.h" }

local function strip_preprocessor(text)
  local out = {}
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    if not line:match("^%s*#") then out[#out + 1] = line end
  end
  return table.concat(out, "\n")
end
M.strip_preprocessor = strip_preprocessor

function M.load(dir)
  if M.loaded then return end
  dir = dir or os.getenv("MOS_ABI_DIR") or "."
  for _, rel in ipairs(HEADERS) do
    local path = dir .. "/" .. rel
    local f, err = io.open(path, "r")
    if not f then error("mos.abi: cannot read " .. path .. ": " .. tostring(err)) end
    local text = f:read("*a")
    f:close()
    ffi.cdef(strip_preprocessor(text))
  end
  M.loaded = true
end

return M
