-- tests/bench/read.lua: GET /v1/conversations/{id}, a random conversation
-- of the dumped list (ids_conv.lua) per request.
local c = dofile(os.getenv("BENCH_DIR") .. "/common.lua")
local ids, n

setup = c.setup
response = c.response
done = c.done

function init(args)
   c.seed()
   ids = c.load("ids_conv.lua")
   n = #ids
   wrk.headers["Authorization"] = c.auth
end

function request()
   return wrk.format("GET", "/v1/conversations/" .. ids[math.random(n)])
end
