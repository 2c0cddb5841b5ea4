-- Shared fixtures for the specs: a hand-crafted two-connection capture whose
-- every expected value is worked out by hand below.
local T = require "mos.testing"

local H = {}

-- conn 1: 10.0.0.1:40000 -> 10.0.0.2:80, client sends "hello " then
--         "world", server answers "HTTP/1.0 200 OK\r\n\r\n"; FIN/FIN.
-- conn 2: 10.0.0.3:40001 -> 10.0.0.2:8080, client sends "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
--         server answers "ok"; FIN/FIN.
H.C1_C2S = "hello world"
H.C1_S2C = "HTTP/1.0 200 OK\r\n\r\n"
H.C2_C2S = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
H.C2_S2C = "ok"

function H.capture()
  if H.path then return H.path end
  local dir = T.tmpdir()
  local pk = T.conn({ client = "10.0.0.1", cport = 40000, server = "10.0.0.2", sport = 80, ts = 1700000000,
                      data = { { "c", "hello " }, { "c", "world" }, { "s", H.C1_S2C } } })
  local pk2 = T.conn({ client = "10.0.0.3", cport = 40001, server = "10.0.0.2", sport = 8080, ts = 1700000001,
                       data = { { "c", H.C2_C2S }, { "s", H.C2_S2C } } })
  for _, p in ipairs(pk2) do pk[#pk + 1] = p end
  H.path = dir .. "/two.pcap"
  H.npkts = #pk -- conn 1: 3 + 6 + 3 = 12, conn 2: 3 + 4 + 3 = 10
  T.write_pcap(H.path, pk)
  return H.path
end

return H
