-- bench/storm.lua: wrk's side of bench/storm.py (--client wrk). Each wrk thread sends its share of the
-- prepared requests (one file line each: path, Cookie, X-CSRFToken or "-", form body), once each, over
-- kept-alive connections (storm.py serves them with a long keep-alive), and writes every answer to its own
-- file for storm.py to judge: "<status> <length of Location> <length of body>\n" then Location and body.
-- Once all its requests are answered a thread says so (an empty file done-<thread>), and storm.py
-- stops wrk (wrk itself would wait out its duration); a connection with nothing left to send waits.
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

local mine, promised, sent, answered, out, out_dir = {}, 0, 0, 0, nil, nil

function init(args)
  local requests_file, nthreads = args[1], tonumber(args[3])
  out_dir = args[2]
  local i = 0
  for line in io.lines(requests_file) do
    if i % nthreads == tid then
      local path, cookie, csrf, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
      local headers = {["Content-Type"] = "application/x-www-form-urlencoded", ["Cookie"] = cookie}
      if csrf ~= "-" then
        headers["HX-Request"] = "true"
        headers["X-CSRFToken"] = csrf
      end
      table.insert(mine, wrk.format("POST", path, headers, body))
    end
    i = i + 1
  end
  out = io.open(out_dir .. "/answers-" .. tid .. ".bin", "wb")
end

-- wrk asks delay() before every request() of a connection (all connections at once at the start):
-- a request is promised to a connection here, so no request() is ever asked of an empty list.
function delay()
  if promised < #mine then
    promised = promised + 1
    return 0
  end
  return 3600000  -- nothing left for this connection: it waits while the others finish
end

function request()
  if sent == promised then
    -- wrk's own check of the script (thread 0, before it runs) asks for a request: shown, not sent
    return mine[sent + 1]
  end
  sent = sent + 1
  return mine[sent]
end

function response(status, headers, body)
  local location = headers["Location"] or headers["location"] or ""
  body = body or ""
  out:write(status, " ", #location, " ", #body, "\n", location, body)
  answered = answered + 1
  if answered == #mine then
    out:close()
    io.open(out_dir .. "/done-" .. tid, "w"):close()
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("storm-wrk socket errors: connect %d read %d write %d timeout %d\n",
                         e.connect, e.read, e.write, e.timeout))
end
