-- tests/bench/approve.lua: POST /v1/drafts/{id}/actions {"type":"approve"},
-- the whole review transaction. A pending draft can be approved once, so
-- every request takes the next draft of its thread's own slice of
-- BENCH_DRAFTS (a list run.sh dumped for this run alone); a thread that runs
-- out starts over, and those repeats answer 409 and count as non-2xx.
local c = dofile(os.getenv("BENCH_DIR") .. "/common.lua")
local file = os.getenv("BENCH_DRAFTS") or error("BENCH_DRAFTS is not set")
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "2")
local user = os.getenv("BENCH_USER") or error("BENCH_USER is not set")
local ids, first, last, next_i

setup = c.setup
response = c.response
done = c.done

function init(args)
   ids = c.load(file)
   local per = math.floor(#ids / nthreads)
   first = tid * per + 1
   last = first + per - 1
   next_i = first
   wrk.headers["Authorization"] = c.auth
   wrk.headers["Content-Type"] = "application/json"
   body = '{"type":"approve","userId":"' .. user .. '"}'
end

function request()
   local id = ids[next_i]
   next_i = next_i + 1
   if next_i > last then
      next_i = first
   end
   return wrk.format("POST", "/v1/drafts/" .. id .. "/actions", nil, body)
end
