-- tests/bench/feed.lua: GET BENCH_FEED_PATH (/v1/feed for the first page of
-- 50, /v1/feed?cursor=... for a deep page), the same request every time,
-- with Accept-Encoding: gzip as the dashboard's browser sends it, unless
-- BENCH_FEED_GZIP=0.
local c = dofile(os.getenv("BENCH_DIR") .. "/common.lua")
local path = os.getenv("BENCH_FEED_PATH") or "/v1/feed"
local gzip = os.getenv("BENCH_FEED_GZIP") ~= "0"
local req

setup = c.setup
response = c.response
done = c.done

function init(args)
   wrk.headers["Authorization"] = c.auth
   if gzip then
      wrk.headers["Accept-Encoding"] = "gzip"
   end
   req = wrk.format("GET", path)
end

function request()
   return req
end
