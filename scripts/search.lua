-- search.lua: report every occurrence of -s needle=STRING in either direction
-- of every connection, including occurrences split across segments.
local mos = require "mos"

local needle = mos.param.needle
if needle == nil or needle == "" then error("search: give the string with -s needle=STRING") end
local keep = #needle - 1 -- tail kept per direction so split matches are found

local hits = 0
local function scan(flow, side, dir)
  local data = flow:peek(side)
  if data == "" then return end
  local ctx = flow.ctx
  local st = ctx[dir]
  if st == nil then st = { tail = "", base = 0 }; ctx[dir] = st end
  local hay = st.tail .. data
  local from = 1
  while true do
    local a = hay:find(needle, from, true)
    if a == nil then break end
    hits = hits + 1
    mos.log({ msg = "match", flow = tonumber(flow.id), client = flow.client, server = flow.server,
              dir = dir, offset = st.base - #st.tail + a - 1 })
    from = a + 1
  end
  st.base = st.base + #data
  st.tail = keep > 0 and hay:sub(-keep) or ""
  -- a match wholly inside the kept tail was already reported
  if #st.tail >= #needle then st.tail = st.tail:sub(-(#needle - 1)) end
end

local function on_data(flow)
  scan(flow, mos.SIDE_SVR, "c2s")
  scan(flow, mos.SIDE_CLI, "s2c")
end
local s = mos.socket("stream")
s:on(mos.CONN_NEW_DATA, mos.HK_RCV, on_data)
s:on(mos.CONN_END, mos.HK_NONE, on_data)
mos.on_exit(function() mos.log({ msg = "total", needle = needle, matches = hits }) end)
