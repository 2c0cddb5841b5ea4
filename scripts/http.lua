-- http.lua: Zeek's http.log: one JSON line per HTTP/1.x request/response
-- pair, pipelined and persistent connections included.
--
-- Parameters: none. Output (mos.log, `_path` = "http"): ts (the request's
-- packet time), uid, id.orig_h, id.orig_p, id.resp_h, id.resp_p,
-- trans_depth, method, host, uri, version, user_agent, request_body_len,
-- response_body_len, status_code, status_msg (fields absent when unseen).
--
-- How: a user-defined event on CONN_NEW_DATA whose filter feeds the new
-- bytes of either direction to that direction's parser and fires when a
-- pair is complete. Bodies are counted, not kept: Content-Length, chunked
-- (chunk data only) or, for a response with neither, up to the
-- connection's end; content-encoded bodies count as sent (Zeek counts
-- them decompressed). HEAD, 1xx, 204 and 304 responses have no
-- body; 1xx responses (but 101) are not paired. Responses pair with
-- requests in order. After a gap in a direction, the message in progress
-- ends (a response is logged with the body bytes seen) and parsing resumes
-- at the next request/status line. A direction that is not HTTP at a
-- message boundary or has a head over 64 KiB stops being parsed (its
-- buffer is turned off); pending requests are logged at the connection's end.
local mos = require "mos"
local zeek = require "mos.zeek"

local MAX_HEAD, MAX_LINE = 64 * 1024, 8192
local FIELDS = { "trans_depth", "method", "host", "uri", "version", "user_agent", "request_body_len",
                 "response_body_len", "status_code", "status_msg" }
local NOBODY = { [204] = true, [304] = true }

local function header(head, name) return head:match("\n" .. name .. ":[ \t]*([^\r\n]*)") end

-- A direction's parser: buf holds unparsed bytes; mode is head | body |
-- size | chunk | crlf | trailer | close; `left` counts the body bytes due.
-- start: a message's first line (to resync after a gap); lead: how a head
-- begins; maybe(bytes): whether bytes without `lead` may still become one.
local function parser(start, lead, maybe)
  return { buf = "", mode = "head", left = 0, start = start, lead = lead, maybe = maybe }
end
local function maybe_request(b) return #b < 16 and b:find("^%u*$") ~= nil end
local function maybe_response(b) return #b < 5 and ("HTTP/"):sub(1, #b) == b end

local function log(flow, h, rec)
  rec._path = "http"
  h.ready[#h.ready + 1] = zeek.conn_fields(flow, rec)
end

-- A new record: the request's (or an unrequested response's) pair.
local function record(h)
  h.depth = h.depth + 1
  return { ts = mos.now(), trans_depth = h.depth, request_body_len = 0, response_body_len = 0 }
end

-- Request heads (client side): queue a record; responses pair with it.
local function on_request(flow, h, st, head)
  local method, uri, ver = head:match("^(%u+) (%S+) HTTP/(%d%.%d)\r?\n")
  if method == nil then return false end
  local lh = head:lower()
  local rec = record(h)
  rec.ts, rec.method, rec.uri, rec.version = st.t0, method, uri, ver
  rec.host, rec.user_agent = header(head, "[Hh][Oo][Ss][Tt]"), header(head, "[Uu][Ss][Ee][Rr]%-[Aa][Gg][Ee][Nn][Tt]")
  h.reqs[#h.reqs + 1] = rec
  st.rec, st.field = rec, "request_body_len"
  local cl = tonumber(lh:match("\ncontent%-length:[ \t]*(%d+)"))
  if lh:match("\ntransfer%-encoding:[^\r\n]*chunked") then st.mode = "size"
  elseif cl and cl > 0 then st.mode, st.left = "body", cl end
  return true
end

local function on_response(flow, h, st, head)
  local ver, code, msg = head:match("^HTTP/(%d%.%d) (%d%d%d) ?([^\r\n]*)")
  if ver == nil then return false end
  code = tonumber(code)
  if code >= 100 and code < 200 and code ~= 101 then return true end -- informational: no pair
  local rec = table.remove(h.reqs, 1)
  if rec == nil then rec = record(h); rec.ts = st.t0 end
  rec.status_code, rec.status_msg = code, msg
  st.rec, st.field = rec, "response_body_len"
  local lh = head:lower()
  local cl = tonumber(lh:match("\ncontent%-length:[ \t]*(%d+)"))
  if code == 101 then st.off = true; h.c.off = true -- no longer HTTP
  elseif rec.method == "HEAD" or NOBODY[code] then -- no body
  elseif lh:match("\ntransfer%-encoding:[^\r\n]*chunked") then st.mode = "size"
  elseif cl then st.mode, st.left = cl > 0 and "body" or "head", cl
  else st.mode = "close" end
  if st.mode == "head" then log(flow, h, rec); st.rec = nil end
  return true
end

-- Consumes st.buf as far as it goes; `head_fn` handles a complete head.
local function parse(flow, h, st, head_fn)
  local b, i = st.buf, 1
  while i <= #b and not st.off do
    local m = st.mode
    if m == "head" and st.resync then -- after a gap: skip to what looks like a message's start
      local j = b:find(st.start, i)
      if j == nil then i = math.max(i, #b - MAX_LINE); break end
      i, st.resync = j, false
    elseif m == "head" then
      local _, e = b:find("^\r?\n", i) -- stray line ends between messages
      if e then i = e + 1
      elseif not b:find(st.lead, i) then -- not (yet) like a request / status line
        st.off = not st.maybe(b:sub(i))
        break
      else
        local _, he = b:find("\r?\n\r?\n", math.max(i, st.scan or i)) -- the part not searched yet
        if he == nil then st.off, st.scan = #b - i > MAX_HEAD, #b - i - 1; break end -- (in st.buf, which starts at i)
        st.scan = nil
        if not head_fn(flow, h, st, b:sub(i, he)) then st.off = true; break end
        i, st.t0 = he + 1, mos.now() -- a next head starts in this packet
      end
    elseif m == "body" or m == "chunk" or m == "close" then
      local n = m == "close" and #b - i + 1 or math.min(st.left, #b - i + 1)
      st.rec[st.field] = st.rec[st.field] + n
      i, st.left = i + n, st.left - n
      if m ~= "close" and st.left == 0 then
        if m == "chunk" then st.mode = "crlf"
        else
          st.mode = "head"
          if st.field == "response_body_len" then log(flow, h, st.rec) end
          st.rec = nil
        end
      end
    else -- a line: chunk size, the CRLF after chunk data, or a trailer
      local e = b:find("\n", i, true)
      if e == nil then st.off = #b - i > MAX_HEAD; break end
      local line = b:sub(i, e)
      i = e + 1
      if m == "size" then
        local x = line:match("^%s*(%x+)")
        local n = x and tonumber(x, 16)
        if n == nil then st.off = true; break end
        st.mode, st.left = n == 0 and "trailer" or "chunk", n
      elseif m == "crlf" then st.mode = "size"
      elseif line:match("^\r?\n$") then -- the trailer's end: the message's
        st.mode = "head"
        if st.field == "response_body_len" then log(flow, h, st.rec) end
        st.rec = nil
      end
    end
  end
  st.buf = b:sub(i)
end

local function state(flow)
  local ctx = flow.ctx
  local h = ctx.http
  if h == nil then
    h = { c = parser("%u+ [^%s]+ HTTP/%d%.%d\r?\n", "^%u+ ", maybe_request),
          s = parser("HTTP/%d%.%d %d%d%d", "^HTTP/", maybe_response),
          reqs = {}, ready = {}, depth = 0 }
    ctx.http = h
  end
  return h
end

-- side is the receiving stack: SIDE_SVR receives requests
local function feed(flow, side, h)
  local st = side == mos.SIDE_SVR and h.c or h.s
  if st.off then return end
  local data = flow:peek(side)
  if data == "" then return end
  if st.buf == "" then st.t0 = mos.now() end -- ts: when a request's first byte came
  st.buf = st.buf .. data
  parse(flow, h, st, side == mos.SIDE_SVR and on_request or on_response)
  if st.off then flow:set(side == mos.SIDE_SVR and "svrbuf" or "clibuf", false) end
end

local PAIR = mos.define_event(mos.CONN_NEW_DATA, function(flow, side)
  local h = state(flow)
  feed(flow, side, h)
  return #h.ready > 0
end)

local function flush(h)
  for _, rec in ipairs(h.ready) do zeek.log(rec, FIELDS) end
  h.ready = {}
end

local s = mos.socket("stream")
s:on(PAIR, mos.HK_RCV, function(flow) flush(flow.ctx.http) end)
-- A gap: the message in progress ends there (a response is logged with
-- the body bytes seen); parsing resumes at the next message start.
s:on(mos.GAP, mos.HK_RCV, function(flow, side)
  local h = state(flow)
  local st = side == mos.SIDE_SVR and h.c or h.s
  if st.rec ~= nil and st.field == "response_body_len" then log(flow, h, st.rec) end
  st.rec, st.mode, st.left, st.buf, st.resync = nil, "head", 0, "", true
end)
s:on(mos.CONN_END, mos.HK_NONE, function(flow)
  local h = flow.ctx.http
  if h == nil then return end
  feed(flow, mos.SIDE_SVR, h)
  feed(flow, mos.SIDE_CLI, h)
  if h.s.rec ~= nil then log(flow, h, h.s.rec) end -- a response cut by the end
  for _, rec in ipairs(h.reqs) do log(flow, h, rec) end -- requests never answered
  flush(h)
end)
