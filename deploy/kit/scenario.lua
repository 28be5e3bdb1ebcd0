-- One wrk scenario, configured by environment variables (deploy/kit/bench.py sets them):
--   BENCH_METHOD, BENCH_PATH, BENCH_KEY   the request
--   BENCH_MODE     static | add | create | update | paths
--   BENCH_BODY     the body of a static request
--   BENCH_TRACKS   add: a file of track ids, one a line
--   BENCH_TARGETS  add: a file of collection paths, one a line; the next one
--                  is used once every track has been added to the current one
--   BENCH_TARGET_OFFSET  add: the first target used (each run takes fresh ones)
--   BENCH_ANY_BODY add: any 200 counts (the C floor answers adds with its fixed body)
--   BENCH_PATHS    paths: a file of request targets, one a line, taken in turn
--   BENCH_PATH_OFFSET  paths: the first line used (each run starts where the
--                  last one stopped, so no target repeats until the file is used up)
--   BENCH_LIMIT    stop after this many responses (0: run for the duration); wrk
--                  then ends at once (one wrk thread: bench.py runs -t1)
-- Each thread counts the status codes it saw (an add that found the track already
-- in the collection counts as "not-new": the scenario is new members); done()
-- prints one JSON line.

local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/"
local mode = os.getenv("BENCH_MODE") or "static"
local body = os.getenv("BENCH_BODY")
local limit = tonumber(os.getenv("BENCH_LIMIT") or "0")
local target_offset = tonumber(os.getenv("BENCH_TARGET_OFFSET") or "0")
local check_body = os.getenv("BENCH_ANY_BODY") ~= "1"
local headers = {}
if os.getenv("BENCH_KEY") then headers["X-API-Key"] = os.getenv("BENCH_KEY") end
if body or mode ~= "static" then headers["Content-Type"] = "application/json" end

local function lines(file)
  local list = {}
  if file then for line in io.lines(file) do list[#list + 1] = line end end
  return list
end
local tracks = lines(os.getenv("BENCH_TRACKS"))
local targets = lines(os.getenv("BENCH_TARGETS"))
local paths = lines(os.getenv("BENCH_PATHS"))
local path_offset = tonumber(os.getenv("BENCH_PATH_OFFSET") or "0")

local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  responses = 0
  statuses = {}
end

function request()
  local i = counter
  counter = counter + 1
  if mode == "add" then
    local target = targets[(math.floor(i / #tracks) + target_offset) % #targets + 1]
    return wrk.format("POST", target, headers, '{"track_id":"' .. tracks[i % #tracks + 1] .. '"}')
  elseif mode == "create" then
    return wrk.format("POST", path, headers, '{"name":"bench ' .. id .. "-" .. i .. '"}')
  elseif mode == "update" then
    return wrk.format("PATCH", path, headers, '{"name":"renamed ' .. id .. "-" .. i .. '"}')
  elseif mode == "paths" then
    return wrk.format(method, paths[(i + path_offset) % #paths + 1], headers, body)
  end
  return wrk.format(method, path, headers, body)
end

function response(status, response_headers, response_body)
  if mode == "add" and check_body and status == 200 and not string.find(response_body or "", "Track added", 1, true) then
    status = "not-new"
  end
  statuses[status] = (statuses[status] or 0) + 1
  responses = responses + 1
  if limit > 0 and responses == limit then
    wrk.thread:stop()
    -- wrk's main thread sleeps out the whole -d duration whatever the threads do:
    -- a SIGINT ends that sleep (wrk then reports as usual). Sent from a background
    -- shell a moment later, since system() ignores SIGINT in wrk until it returns.
    os.execute("(sleep 0.1; kill -INT $PPID) &")
  end
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(counts) do parts[#parts + 1] = '"' .. status .. '":' .. count end
  local errors = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"mean_us":%.1f,"statuses":{%s},' ..
    '"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.mean,
    table.concat(parts, ","), errors.connect, errors.read, errors.write, errors.timeout))
end
