-- mos.zeek: what the Zeek-style log apps (scripts/conn.lua, http.lua,
-- tls.lua) share: a connection's uid and its `id.*` fields, so every log of
-- one connection carries the same keys.
--
--   local zeek = require "mos.zeek"
--   local rec = zeek.conn_fields(flow, { _path = "http", method = "GET" })
--   zeek.log(rec, { "method", ... })   -- mos.log in Zeek's column order
--
-- uid: THE ONE PLACE that names connections. flow.uid and
-- flow.community_id come from the fleet issue (15); until they exist this
-- falls back to "C<core>x<flow id>", unique within one run only.
local mos = require "mos"

local Z = {}

-- flow.K whether the flow API makes it a field or a method; nil when absent
local function field(flow, k)
  local v = flow[k]
  if type(v) == "function" then return v(flow) end
  return v
end

function Z.uid(flow)
  local u = field(flow, "uid") -- nil until the flow API provides it
  if u ~= nil then return u end
  return string.format("C%dx%d", mos.core_id, tonumber(flow.id))
end

-- Adds ts (when absent), uid, id.orig_h/p, id.resp_h/p (the client is
-- Zeek's originator) and community_id (when the flow API has it) to rec.
function Z.conn_fields(flow, rec)
  rec = rec or {}
  rec.uid = Z.uid(flow)
  rec["id.orig_h"], rec["id.orig_p"] = flow:peer(mos.SIDE_CLI)
  rec["id.resp_h"], rec["id.resp_p"] = flow:peer(mos.SIDE_SVR)
  rec.community_id = field(flow, "community_id")
  return rec
end

-- mos.log(rec) with Zeek's column order: _path, uid, id.*, then `fields`
-- (a list of the log's own names, in Zeek's order), community_id last.
local orders = setmetatable({}, { __mode = "k" })
function Z.log(rec, fields)
  local order = orders[fields]
  if order == nil then
    order = { "_path", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p" }
    for _, k in ipairs(fields) do order[#order + 1] = k end
    order[#order + 1] = "community_id"
    orders[fields] = order
  end
  mos.log(rec, order)
end

return Z
