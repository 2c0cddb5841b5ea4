-- http_log.lua: log HTTP requests (method, host, uri), one JSON line each.
--
-- A user-defined event REQUEST on CONN_NEW_DATA whose filter reads what the
-- client sent and fires when the buffer holds a complete request head. The
-- handler parses the request line and the Host header. Pipelined requests are
-- found one after another; bodies with Content-Length are skipped.
local mos = require "mos"

local METHODS = { GET = true, POST = true, HEAD = true, PUT = true, DELETE = true, OPTIONS = true,
                  TRACE = true, CONNECT = true, PATCH = true, PROPFIND = true }
local MAX_HEAD = 64 * 1024 -- a request head longer than this is not HTTP we follow

local function state(flow)
  local ctx = flow.ctx
  local st = ctx.http
  if st == nil then st = { buf = "", skip = 0, off = false, reqs = {} }; ctx.http = st end
  return st
end

-- Parses whole request heads out of st.buf into st.reqs; true if any.
local function parse(st)
  while not st.off do
    if st.skip > 0 then
      local n = math.min(st.skip, #st.buf)
      st.buf, st.skip = st.buf:sub(n + 1), st.skip - n
      if st.skip > 0 then break end
    end
    local buf = st.buf
    if buf == "" then break end
    local eoh = buf:find("\r?\n\r?\n")
    if eoh == nil then
      if #buf > MAX_HEAD then st.off = true end
      break
    end
    local _, hend = buf:find("\r?\n\r?\n")
    local head = buf:sub(1, hend)
    local method, uri = head:match("^(%u+) (%S+) HTTP/%d%.%d\r?\n")
    if method == nil or not METHODS[method] then
      st.off = true -- not a request at a message boundary: stop following
      break
    end
    local host = head:match("\n[Hh][Oo][Ss][Tt]:[ \t]*([^\r\n]*)")
    st.reqs[#st.reqs + 1] = { method = method, uri = uri, host = host }
    st.buf = buf:sub(hend + 1)
    st.skip = tonumber(head:match("\n[Cc]ontent%-[Ll]ength:[ \t]*(%d+)") or 0)
  end
  return #st.reqs > 0
end

local function request_filter(flow, side)
  local st = state(flow)
  if st.off then return false end
  local data = flow:peek(mos.SIDE_SVR)
  if data ~= "" then st.buf = st.buf .. data end
  return parse(st)
end

local REQUEST = mos.define_event(mos.CONN_NEW_DATA, request_filter)

local n = 0
local s = mos.socket("stream")
s:on(REQUEST, mos.HK_RCV, function(flow)
  local st = flow.ctx.http
  for _, r in ipairs(st.reqs) do
    n = n + 1
    mos.log({ msg = "http_request", flow = tonumber(flow.id), client = flow.client, server = flow.server,
              method = r.method, host = r.host, uri = r.uri })
    if mos.param.print then print(r.method .. " " .. (r.host or "-") .. " " .. r.uri) end
  end
  st.reqs = {}
end)
mos.on_exit(function() mos.log({ msg = "total", requests = n }) end)
