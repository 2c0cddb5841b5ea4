-- scripts/http.lua: hand-worked conversations (pipelining, persistent
-- connections, Content-Length / chunked / close-delimited bodies, HEAD,
-- 1xx, a gap, non-HTTP and malformed input), and tshark's http fields on
-- the corpus.
local T = require "mos.testing"

local function sh(cmd)
  local p = io.popen(cmd)
  local out = p:read("*a")
  p:close()
  return out
end
local has_tshark = sh("command -v tshark") ~= ""

local function https(r)
  local out = {}
  for _, rec in ipairs(r.logs) do if rec._path == "http" then out[#out + 1] = rec end end
  return out
end

local function run(cap)
  local r = T.run({ script = "scripts/http.lua", capture = cap })
  assert.are.equal(0, r.exit, r.stderr)
  assert.are.equal(0, r.stats.counters.handler_errors)
  return https(r), r
end

local function conn_capture(data, opts)
  opts = opts or {}
  opts.data = data
  local path = T.tmpdir() .. "/h.pcap"
  T.write_pcap(path, T.conn(opts))
  return path
end

local function pick(recs, ...)
  local keys, out = { ... }, {}
  for i, r in ipairs(recs) do
    local row = {}
    for j, k in ipairs(keys) do row[j] = r[k] == nil and "-" or r[k] end
    out[i] = row
  end
  return out
end

local FIELDS = { "trans_depth", "method", "host", "uri", "user_agent", "request_body_len", "status_code",
                 "status_msg", "response_body_len" }

describe("http.lua", function()
  it("pairs pipelined requests on a persistent connection, with every kind of body", function()
    local cap = conn_capture({
      { "c", "POST /up HTTP/1.1\r\nHo" }, -- a request head across three segments
      { "c", "st: h\r\nUser-Agent: ua 1\r\nContent-Length: 5\r\n\r\nhel" },
      { "c", "loGET /a HTTP/1.1\r\nHost: h\r\n\r\nHEAD /b HTTP/1.1\r\nHost: h\r\n\r\n" },
      { "s", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nabc" },
      { "s", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n5;ext=1\r\npedia\r\n0\r\nX-T: 1\r\n\r\n" },
      { "s", "HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n" }, -- HEAD: no body follows
      { "c", "\r\nGET /c HTTP/1.0\r\n\r\n" },
      { "s", "HTTP/1.0 200 OK\r\n\r\nclose-delimited" },
    })
    local recs = run(cap)
    assert.are.same({
      { 1, "POST", "h", "/up", "ua 1", 5, 201, "Created", 3 },
      { 2, "GET", "h", "/a", "-", 0, 200, "OK", 9 },
      { 3, "HEAD", "h", "/b", "-", 0, 200, "OK", 0 },
      { 4, "GET", "-", "/c", "-", 0, 200, "OK", 15 },
    }, pick(recs, unpack(FIELDS)))
    local r = recs[1]
    assert.are.same({ "10.0.0.1", 40000, "10.0.0.2", 80, "1.1" },
      { r["id.orig_h"], r["id.orig_p"], r["id.resp_h"], r["id.resp_p"], r.version })
    assert.are.equal(1700000000.004, r.ts) -- the request's first segment (4th packet)
  end)

  it("logs the shared crafted capture: a response to non-HTTP bytes, a request answered by non-HTTP", function()
    package.path = T.source_dir .. "/tests/lua/?.lua;" .. package.path
    local recs = run(require("helpers").capture())
    assert.are.same({ { "-", "-", "-", 40000, 200 }, { "GET", "x", "/", 40001, "-" } },
      pick(recs, "method", "host", "uri", "id.orig_p", "status_code"))
  end)

  it("finds a head whose blank line is split between segments", function()
    local recs = run(conn_capture({ { "c", "GET /s HTTP/1.1\r\nHost: a\r\n\r" }, { "c", "\n" },
                                    { "s", "HTTP/1.1 200 OK\r\nContent-Length: 2\r" }, { "s", "\n\r\nok" } }))
    assert.are.same({ { "/s", "a", 200, 2 } }, pick(recs, "uri", "host", "status_code", "response_body_len"))
  end)

  it("logs requests never answered, and answers never asked", function()
    local recs = run(conn_capture({ { "s", "HTTP/1.1 204 No Content\r\n\r\n" },
                                    { "c", "GET /x HTTP/1.1\r\nHost: q\r\n\r\n" } }))
    assert.are.same({ { 1, "-", "-", "-", "-", 0, 204, "No Content", 0 }, { 2, "GET", "q", "/x", "-", 0, "-", "-", 0 } },
      pick(recs, unpack(FIELDS)))
  end)

  it("ends the message at a gap and resumes at the next response", function()
    -- the server's "56789" (5 bytes of /1's body) is missing from the capture
    local pk = T.conn({ data = { { "c", "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n" },
                                 { "s", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234" },
                                 { "s", "56789" },
                                 { "s", "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n" } } })
    table.remove(pk, 8) -- packets: 3 handshake, data+ack x4 (4..11): the 3rd data segment is the 8th
    local path = T.tmpdir() .. "/gap.pcap"
    T.write_pcap(path, pk)
    local recs = run(path)
    assert.are.same({ { "/1", 200, 5 }, { "/2", 404, 0 } }, pick(recs, "uri", "status_code", "response_body_len"))
  end)

  it("stays quiet on non-HTTP and stops on malformed HTTP", function()
    assert.are.same({}, run(conn_capture({ { "c", "SSH-2.0-OpenSSH_9\r\n\r\n" }, { "s", "SSH-2.0-x\r\n\r\n" } })))
    -- a bad chunk size: the response is logged with what was counted
    local recs = run(conn_capture({ { "c", "GET / HTTP/1.1\r\n\r\n" },
                                    { "s", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n" } }))
    assert.are.same({ { "/", 200, 0 } }, pick(recs, "uri", "status_code", "response_body_len"))
    -- a head that never ends within 64 KiB: given up, nothing logged, no error
    local long = {}
    for i = 1, 70 do long[i] = { "c", (i == 1 and "GET / HTTP/1.1\r\n" or "") .. "X: " .. string.rep("a", 1000) .. "\r\n" } end
    local r
    recs, r = run(conn_capture(long))
    assert.are.same({}, recs)
    assert.is_true(r.stats.lua_mem_kb < 4096)
  end)

  -- tshark's view: every request (method, host, uri, user agent, body
  -- length from Content-Length) and its paired response (status, body length
  -- from Content-Length or the chunk sizes).
  for _, name in ipairs({ "zeek-http-pipelined-requests.pcap", "zeek-wikipedia.pcap", "pcapplusplus-three_http_streams.pcap",
                          "pcapplusplus-four_ipv6_http_streams.pcap", "zeek-workshop_2011_browse.pcap",
                          "zeek-http-zero-length-bodies-with-drops.pcap", "suricata-verify-http-ipv6.pcap" }) do
    it("matches tshark's http fields on " .. name, function()
      local cap = T.pcap(name)
      if not T.exists(cap) then pending("corpus capture absent") return end
      if not has_tshark then pending("tshark missing") return end
      local out = sh("tshark -o http.decompress_body:FALSE -2 -r " .. T.quote(cap) ..
        " -Y 'http.request || http.response' -T fields -E aggregator=/s -e frame.number -e tcp.srcport" ..
        " -e http.request.method -e http.host -e http.request.uri -e http.user_agent -e http.content_length_header" ..
        " -e http.response.code -e http.request_in -e http.chunk_size 2>/dev/null")
      local req, want = {}, {}
      for l in out:gmatch("[^\n]+") do
        local f = {}
        for x in (l .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = x end
        if f[3] ~= "" then
          req[f[1]] = { f[2], f[3], f[4] ~= "" and f[4] or "-", f[5], f[6] ~= "" and f[6] or "-", tonumber(f[7]) or 0, "-", "-" }
          want[#want + 1] = req[f[1]]
        elseif f[8] ~= "" then
          local body = tonumber(f[7])
          if f[10] ~= "" then
            body = 0
            for n in f[10]:gmatch("%d+") do body = body + tonumber(n) end
          end
          local q = req[f[9]]
          if q == nil then q = { "-", "-", "-", "-", "-", 0 }; want[#want + 1] = q end
          q[7], q[8] = tonumber(f[8]), body or "?"
        end
      end
      local recs = run(cap)
      local got = {}
      for i, r in ipairs(recs) do
        got[i] = { r.method and tostring(r["id.orig_p"]) or "-", r.method or "-", r.host or "-", r.uri or "-",
                   r.user_agent or "-", r.request_body_len, r.status_code or "-", r.status_code and r.response_body_len or "-" }
      end
      -- each tshark pair must have its record; a body length tshark cannot
      -- tell (close-delimited) is not compared
      local pool = {}
      local function key(t) return table.concat(t, "|", 1, 7) end
      for _, g in ipairs(got) do pool[key(g)] = pool[key(g)] or {}; table.insert(pool[key(g)], g[8]) end
      assert.is_true(#want > 0)
      for _, w in ipairs(want) do
        local l = pool[key(w)]
        assert.is_truthy(l and #l > 0, "no record for " .. key(w))
        local body = table.remove(l, 1)
        if w[8] ~= "?" then assert.are.equal(w[8], body, key(w)) end
      end
      assert.are.equal(#want, #got)
    end)
  end
end)
