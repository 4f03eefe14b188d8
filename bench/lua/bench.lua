-- One wrk script for every benchmark, configured through the environment
-- (bench/wrk.py sets these):
--   BENCH_METHOD   GET (default) or POST
--   BENCH_PATH     request path; "{id}" is replaced per request by a random id in 1..BENCH_ID_MAX
--   BENCH_ID_MAX   largest id for "{id}" (the seeded tasks)
--   BENCH_BODY     request body (sent with content-type: application/json)
--   BENCH_AUTHORIZATION  an Authorization header value sent with every request
--   BENCH_MIX      "1": rotate through the four benchmarked routes (memory run)
--   BENCH_STOP_AT  stop this thread after that many responses (0: run for -d)
-- done() prints one JSON line (prefixed "BENCH_JSON ") that bench/wrk.py parses:
-- exact percentiles from wrk's histogram instead of its rounded text output.

local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/"
local id_max = tonumber(os.getenv("BENCH_ID_MAX") or "1") or 1
local body = os.getenv("BENCH_BODY")
local mix = os.getenv("BENCH_MIX") == "1"
local stop_at = tonumber(os.getenv("BENCH_STOP_AT") or "0") or 0

local json_headers = { ["Content-Type"] = "application/json" }
local responses = 0
local counter = 0

wrk.method = method
wrk.path = path
local authorization = os.getenv("BENCH_AUTHORIZATION")
if authorization then
   wrk.headers["Authorization"] = authorization
end
if body then
   wrk.body = body
   wrk.headers["Content-Type"] = "application/json"
end

local function task_path(template)
   return (template:gsub("{id}", tostring(math.random(1, id_max))))
end

if mix then
   local mixed_body = '{"title": "memory run", "priority": "low"}'
   request = function()
      counter = counter + 1
      local slot = counter % 4
      if slot == 0 then
         return wrk.format("GET", "/health")
      elseif slot == 1 then
         return wrk.format("GET", task_path("/tasks/{id}"))
      elseif slot == 2 then
         return wrk.format("GET", "/tasks?limit=20")
      end
      return wrk.format("POST", "/tasks", json_headers, mixed_body)
   end
elseif path:find("{id}", 1, true) then
   request = function()
      return wrk.format(method, task_path(path))
   end
end

if stop_at > 0 then
   response = function()
      responses = responses + 1
      if responses >= stop_at then
         wrk.thread:stop()
      end
   end
end

function done(summary, latency, _requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, '
         .. '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d, '
         .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean
   ))
end
