-- wrk script for the launch-peak replay (devstack/replay.py writes the bodies and reads the result).
-- Each thread takes every n-th body of the file, POSTs each once, writes the applicant id of every 202 to its
-- own file, and stops when its bodies are used up. A per-connection delay caps the total rate.
-- Arguments: bodies file, thread count, delay per request in ms, output directory.

local threads = {}
local next_id = 1

function setup(thread)
  thread:set("id", next_id)
  table.insert(threads, thread)
  next_id = next_id + 1
end

function init(args)
  local path, thread_count, out_dir = args[1], tonumber(args[2]), args[4]
  pause_ms = tonumber(args[3])
  bodies = {}
  local index = 0
  for line in io.lines(path) do
    if index % thread_count == id - 1 then
      bodies[#bodies + 1] = line
    end
    index = index + 1
  end
  sent, answered = 0, 0
  c202, c409, c429, c4xx, c5xx, cother = 0, 0, 0, 0, 0, 0
  accepted = io.open(out_dir .. "/accepted-" .. id .. ".txt", "w")
  registration = {}
  for i, body in ipairs(bodies) do
    registration[i] = wrk.format("POST", "/registrations", {["Content-Type"] = "application/json"}, body)
  end
  idle = wrk.format("GET", "/waves/current")
end

function request()
  sent = sent + 1
  if sent <= #registration then
    return registration[sent]
  end
  return idle -- the thread is stopping; a harmless read fills the last slots
end

function delay()
  return pause_ms
end

function response(status, headers, body)
  if status == 200 or answered >= #registration then
    return -- an answer to one of the closing reads, not to a registration
  end
  answered = answered + 1
  if status == 202 then
    c202 = c202 + 1
    local applicant = string.match(body, '"applicant_id": "(%x+)"')
    if applicant then accepted:write(applicant, "\n") end
  elseif status == 409 then c409 = c409 + 1
  elseif status == 429 then c429 = c429 + 1
  elseif status >= 500 then c5xx = c5xx + 1
  elseif status >= 400 then c4xx = c4xx + 1
  else cother = cother + 1 end
  if answered >= #registration then
    accepted:close()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local totals = {c202 = 0, c409 = 0, c429 = 0, c4xx = 0, c5xx = 0, cother = 0, answered = 0}
  for _, thread in ipairs(threads) do
    for name, _ in pairs(totals) do
      totals[name] = totals[name] + (thread:get(name) or 0)
    end
  end
  local e = summary.errors
  io.write(string.format(
    'REPLAY {"duration_us": %d, "requests": %d, "answered": %d, "status": {"202": %d, "409": %d, "429": %d, "other_4xx": %d, "5xx": %d, "other": %d}, ' ..
    '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %d, "p95": %d, "p99": %d, "max": %d}}\n',
    summary.duration, summary.requests, totals.answered, totals.c202, totals.c409, totals.c429, totals.c4xx, totals.c5xx,
    totals.cother, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
