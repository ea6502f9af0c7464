-- tests/bench/message.lua: POST /v1/conversations/{id}/messages, an inbound
-- message (the transaction also queues a draft request and moves the
-- conversation in the feed) to a random open conversation (ids_open.lua),
-- each with its own externalId (BENCH_RUN_ID keeps runs apart).
local c = dofile(os.getenv("BENCH_DIR") .. "/common.lua")
local run_id = os.getenv("BENCH_RUN_ID") or tostring(os.time())
local body_text = os.getenv("BENCH_BODY") or "Hello"
local subject = os.getenv("BENCH_SUBJECT") or "Re: order"
local ids, n, seq = nil, 0, 0

setup = c.setup
response = c.response
done = c.done

function init(args)
   c.seed()
   ids = c.load("ids_open.lua")
   n = #ids
   wrk.headers["Authorization"] = c.auth
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   seq = seq + 1
   local body = string.format(
      '{"externalId":"wrk-%s-%d-%d","direction":"inbound","subject":"%s","bodyText":"%s"}',
      run_id, tid, seq, subject, body_text)
   return wrk.format("POST", "/v1/conversations/" .. ids[math.random(n)] .. "/messages", nil, body)
end
