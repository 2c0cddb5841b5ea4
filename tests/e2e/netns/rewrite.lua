-- rewrite.lua (live tests): in every server-to-client segment, replace the
-- first occurrence of -s from=TEXT by -s to=TEXT (same or another length).
-- A segment is edited once: a retransmission of an edited sequence number
-- is left alone (the engine forwards it as the sender sent it).
local mos = require "mos"

local from, to = assert(mos.param.from, "rewrite: -s from=TEXT"), assert(mos.param.to, "rewrite: -s to=TEXT")
local edits = 0

local s = mos.socket("stream")
s:on(mos.PKT_IN, mos.HK_SND, function(flow)
  local p = flow:lastpkt()
  if not p or p.payload_len == 0 or p.sport ~= select(2, flow:peer(mos.SIDE_SVR)) then return end
  local ctx = flow.ctx
  ctx.done = ctx.done or {}
  local seq = tonumber(p.seq)
  if ctx.done[seq] then return end
  local at = p.payload:find(from, 1, true)
  if not at then return end
  local ok, err
  if #from == #to then
    ok, err = flow:setlastpkt("payload", at - 1, to)
  else
    ok, err = flow:rewrite(at - 1, #from, to)
  end
  if not ok then error("rewrite failed: " .. tostring(err)) end
  ctx.done[seq] = true
  edits = edits + 1
end)
mos.on_exit(function() mos.log({ msg = "rewrites", edits = edits }) end)
