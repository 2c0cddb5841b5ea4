-- dpi.lua: deep packet inspection with a rule file. Every rule's pattern (a
-- literal or a regex) is searched in both directions of every TCP
-- connection's reassembled stream, across segments, with mos.matcher (one
-- Hyperscan database for all rules); each match a rule's conditions accept
-- is one alert.
--
--   mos-lua -r cap.pcap -s rules=FILE scripts/dpi.lua
--
-- Parameters: rules=FILE (required). Rule file: one rule per line; blank
-- lines and lines whose first non-blank character is '#' are skipped:
--
--   ID [port=P|port=P-Q] [dir=c2s|s2c] msg="TEXT" lit|re PATTERN
--   1001 port=80 dir=c2s msg="sqlmap scanner" lit User-Agent: sqlmap
--   1002 msg="SQL injection" re (?i)union\s+select
--
-- ID: a decimal integer, unique in the file. port: the responder's
-- (server's) port or an inclusive range; dir: c2s = bytes the client sent,
-- s2c = bytes the server sent; without them a rule applies to every flow
-- and both directions. msg: the alert's text in double quotes (\" and \\
-- escaped). The pattern is the rest of the line after `lit ` or `re `, as
-- in mos.matcher's pattern files: literals take \\ \t \r \n \xHH, regexes
-- (Hyperscan's PCRE subset) are taken as written. A bad line stops the
-- script from starting with `FILE:LINE: reason`.
--
-- Output (mos.log, `_path` = "dpi"), one JSON line per alert: ts (packet
-- time of the delivery that completed the match), uid, id.orig_h, id.orig_p,
-- id.resp_h, id.resp_p, side (the receiving side: "svr" for c2s bytes),
-- dir ("c2s"/"s2c"), rule (ID), message, offset (stream offset just past
-- the match, 0 = the direction's first payload byte). A regex reports every
-- end position (see lua/README.md, Stream matching). At exit one record
-- {"msg": "dpi total", rules, alerts}.
--
-- Rule changes: edit the file; it is watched (mos.watch: looked at between
-- two steps, at most every 100 ms) and read again when it changes; SIGHUP
-- reloads the script, which reads it too. A file with a bad line is
-- rejected (logged with FILE:LINE) and the old rules stay in force. New
-- rules apply at once to new flows, and to existing flows for the bytes
-- that arrive after the change (the new matcher starts each existing flow
-- at its current end: bytes already scanned are not scanned again, and a
-- match that began before the change is not found).
local mos = require "mos"
local zeek = require "mos.zeek"

local ESC = { ["\\"] = "\\", t = "\t", r = "\r", n = "\n" }

local function unescape(s) -- a literal's escapes; nil, err on a bad one
  local out, i = {}, 1
  while true do
    local j = s:find("\\", i, true)
    if not j then out[#out + 1] = s:sub(i); return table.concat(out) end
    out[#out + 1] = s:sub(i, j - 1)
    local c, hex = s:sub(j + 1, j + 1), s:match("^x(%x%x)", j + 1)
    if ESC[c] then out[#out + 1], i = ESC[c], j + 2
    elseif hex then out[#out + 1], i = string.char(tonumber(hex, 16)), j + 4
    else return nil, "bad escape \\" .. c .. " in literal (\\\\ \\t \\r \\n \\xHH)" end
  end
end

local function quoted(line, pos) -- "TEXT" at pos: text, position after it
  if line:sub(pos, pos) ~= '"' then return nil end
  local out, i = {}, pos + 1
  while i <= #line do
    local c = line:sub(i, i)
    if c == '"' then return table.concat(out), i + 1 end
    if c == "\\" then
      c = line:sub(i + 1, i + 1)
      if c ~= '"' and c ~= "\\" then return nil end
      i = i + 1
    end
    out[#out + 1], i = c, i + 1
  end
end

local function parse(line) -- one rule line: a rule table, or nil, reason
  local id, pos = line:match("^[ \t]*(%d+)()")
  if not id then return nil, "expected a rule id (a decimal integer) first" end
  local r = { id = tonumber(id) }
  if r.id >= 2 ^ 53 then return nil, "rule id too large" end
  while true do
    local p = line:match("^[ \t]+()", pos)
    if not p then return nil, "expected `lit PATTERN` or `re PATTERN`" end
    local kind, at = line:match("^(%a+)()", p)
    local sep = at and line:sub(at, at)
    if (kind == "lit" or kind == "re") and (sep == "" or sep == " " or sep == "\t") then
      local pat = line:sub(at + 1) -- after exactly one space or tab
      if pat == "" then return nil, "empty pattern" end
      if kind == "lit" then
        local lit, err = unescape(pat)
        if not lit then return nil, err end
        r.pat = { literal = lit }
      else
        r.pat = { regex = pat }
      end
      break
    end
    local key, v = line:match("^(%a+)=()", p)
    if key == "msg" then
      if r.message then return nil, "msg given twice" end
      r.message, pos = quoted(line, v)
      if not r.message then return nil, 'msg: expected "TEXT" (\\" and \\\\ escaped)' end
    else
      local val
      val, pos = line:match("^([^ \t]*)()", v or p)
      if key == "port" and not r.lo then
        local a, b = val:match("^(%d+)%-(%d+)$")
        a, b = tonumber(a or val:match("^%d+$")), tonumber(b or a or val)
        if not a or a > b or b > 65535 then return nil, "port: expected P or P-Q in 0..65535, got " .. val end
        r.lo, r.hi = a, b
      elseif key == "dir" and not r.dir and (val == "c2s" or val == "s2c") then
        r.dir = val == "c2s" and mos.SIDE_SVR or mos.SIDE_CLI
      elseif (key == "port" and r.lo) or (key == "dir" and r.dir) then
        return nil, key .. " given twice"
      elseif key == "dir" then
        return nil, "dir: expected c2s or s2c, got " .. val
      else
        return nil, "unknown field " .. line:match("^[^ \t]*", p) .. " (port=, dir=, msg=, then lit or re)"
      end
    end
  end
  if not r.message then return nil, 'missing msg="TEXT"' end
  return r
end

-- The rule file: rules (index = matcher id) and a matcher; error FILE:LINE.
local function load(path)
  local f, err = io.open(path, "rb")
  if not f then error(path .. ": cannot read: " .. err, 0) end
  local rules, pats, lines, seen, n = {}, {}, {}, {}, 0
  for line in f:lines() do
    n = n + 1
    line = line:gsub("\r$", "")
    if not line:match("^[ \t]*$") and not line:match("^[ \t]*#") then
      local r, why = parse(line)
      if r and seen[r.id] then r, why = nil, "duplicate rule id " .. r.id .. " (line " .. seen[r.id] .. ")" end
      if not r then f:close(); error(path .. ":" .. n .. ": " .. why, 0) end
      seen[r.id] = n
      local i = #rules + 1
      rules[i], lines[i], r.pat.id = r, n, i
      pats[i] = r.pat
    end
  end
  f:close()
  if #rules == 0 then error(path .. ": no rules", 0) end
  local ok, m = pcall(mos.matcher, pats)
  if not ok then -- "pattern I (...)" -> the file's line
    local i = tonumber(tostring(m):match("pattern (%d+)"))
    error(i and path .. ":" .. lines[i] .. ": " .. tostring(m):gsub("^.-pattern %d+ %((.-)%): ", "%1: ") or tostring(m), 0)
  end
  return rules, m
end

local path = mos.param.rules
if path == nil or path == "" then error("dpi: give -s rules=FILE (one rule per line, see the header)", 0) end
local f, err = io.open(path, "rb")
if not f then error("dpi: cannot read the rule file: " .. err, 0) end
f:close()
local rules, m
-- now and whenever the file changes: the new rules replace the old ones
-- only once all of them are good
mos.watch(path, function(p)
  local r2, m2 = load(p)
  rules, m = r2, m2
end)

local alerts = 0
local FIELDS = { "side", "dir", "rule", "message", "offset" } -- Zeek order: after ts, _path, uid, id.*
local function scan(flow, side)
  local port
  for i, offset in m:scan(flow, side) do
    local r = rules[i]
    if r.lo and not port then local _; _, port = flow:peer(mos.SIDE_SVR) end
    if (not r.dir or r.dir == side) and (not r.lo or (port >= r.lo and port <= r.hi)) then
      alerts = alerts + 1
      zeek.log(zeek.conn_fields(flow, {
        _path = "dpi", ts = mos.now(), side = side == mos.SIDE_SVR and "svr" or "cli",
        dir = side == mos.SIDE_SVR and "c2s" or "s2c", rule = r.id, message = r.message, offset = offset,
      }), FIELDS)
    end
  end
end

local s = mos.socket("stream")
s:on(mos.CONN_NEW_DATA, mos.HK_RCV, scan)
-- bytes delivered when the flow ends (held segments flushed past a hole)
s:on(mos.CONN_END, mos.HK_NONE, function(flow) scan(flow, mos.SIDE_CLI); scan(flow, mos.SIDE_SVR) end)
mos.on_exit(function() mos.log({ msg = "dpi total", rules = #rules, alerts = alerts }) end)
