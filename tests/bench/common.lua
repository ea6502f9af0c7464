-- tests/bench/common.lua: what every wrk script of the benchmark shares.
--
-- Loaded by each script with dofile(os.getenv("BENCH_DIR") .. "/common.lua").
-- Environment (set by run.sh): BENCH_KEY (the bearer key), BENCH_OUT (where
-- the id lists dumped from the database live).
--
-- Counts non-2xx answers per thread in response() and prints one line that
-- run.sh parses in done():
--   BENCHRESULT requests=N duration_us=N rps=X p50_us=N p99_us=N non2xx=N errors=N
-- (errors: connect, read, write and timeout errors of wrk itself).

local M = {}

M.key = os.getenv("BENCH_KEY") or error("BENCH_KEY is not set")
M.out = os.getenv("BENCH_OUT") or error("BENCH_OUT is not set")
M.auth = "Bearer " .. M.key

local threads = {}
local counter = 0

-- setup() runs in the main Lua state once per thread, before it starts.
function M.setup(thread)
   thread:set("tid", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

-- Loads a Lua file that returns a table (an id list made by run.sh).
function M.load(name)
   local f = assert(loadfile(M.out .. "/" .. name))
   return f()
end

function M.seed()
   math.randomseed(os.time() * 1000 + (tid or 0) * 7919 + math.floor(os.clock() * 1e6))
end

non2xx = 0

function M.response(status, headers, body)
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
      if non2xx <= 3 then
         io.stderr:write(string.format("non-2xx %d: %s\n", status, (body or ""):sub(1, 300)))
      end
   end
end

function M.done(summary, latency, requests)
   local bad = 0
   for _, t in ipairs(threads) do
      bad = bad + (t:get("non2xx") or 0)
   end
   local e = summary.errors
   local errors = e.connect + e.read + e.write + e.timeout
   io.write(string.format(
      "BENCHRESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d non2xx=%d errors=%d\n",
      summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      bad, errors))
end

return M
