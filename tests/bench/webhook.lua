-- tests/bench/webhook.lua: POST /v1/webhooks/bench, signed deliveries that
-- run.sh made and signed (sign.c) right before the run: a new inbound
-- message on an existing conversation of an existing channel, each with its
-- own deliveryId. Every thread sends its own slice of BENCH_DELIVERIES once;
-- a thread that runs out starts over, and the duplicates (200, no new rows)
-- are counted as non-2xx so that they cannot pass for throughput.
local c = dofile(os.getenv("BENCH_DIR") .. "/common.lua")
local file = os.getenv("BENCH_DELIVERIES") or error("BENCH_DELIVERIES is not set")
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "2")
local list, first, last, next_i
local wrapped = false

setup = c.setup
done = c.done

function init(args)
   list = c.load(file)
   local per = math.floor(#list / nthreads)
   first = tid * per + 1
   last = first + per - 1
   next_i = first
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   local d = list[next_i]
   next_i = next_i + 1
   if next_i > last then
      next_i = first
      wrapped = true
   end
   return wrk.format("POST", "/v1/webhooks/bench",
                     { ["X-Inboxd-Timestamp"] = d[1], ["X-Inboxd-Signature"] = d[2] }, d[3])
end

function response(status, headers, body)
   if wrapped or status ~= 201 then
      c.response(wrapped and 299 + 1 or status, headers, body)
   end
end
