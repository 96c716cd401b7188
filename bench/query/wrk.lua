-- wrk script for bench/query/run.py. It loads bench/harness/wrk.lua for the Authorization header
-- (BENCH_AUTH) and the done() hook that prints the "BENCH_JSON {...}" summary.
--
-- The URL is a template: every "@KEY@" in it is replaced, per request, by a random item of the
-- comma-separated list in the environment variable BENCH_KEY (items already URL-encoded), e.g.
-- query=...%7Binstance%3D%22@INSTANCE@%22%7D&@RANGE@&step=60 with BENCH_INSTANCE=host-000%3A9100,...
-- and BENCH_RANGE=start=...&end=...,... picks a random instance and range for each request
-- (bench/query/queries.py makes the templates and the lists).

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "../harness/wrk.lua")

local template = wrk.path
local choices = {}
for key in template:gmatch("@(%u+)@") do
  if not choices[key] then
    local items = {}
    for item in string.gmatch(os.getenv("BENCH_" .. key) or "", "[^,]+") do
      items[#items + 1] = item
    end
    assert(#items > 0, "BENCH_" .. key .. " is empty")
    choices[key] = items
  end
end
math.randomseed(os.time() + math.floor(os.clock() * 1e6))

if next(choices) then
  function request()
    local path = template:gsub("@(%u+)@", function(key)
      local items = choices[key]
      return items[math.random(1, #items)]
    end)
    return wrk.format(nil, path)
  end
end
