-- wrk script for bench/query/run.py. It loads bench/harness/wrk.lua for the Authorization header
-- (BENCH_AUTH) and the done() hook that prints the "BENCH_JSON {...}" summary.
--
-- The URL is a template: every "@KEY@" in it is replaced, per request, by a random item of the
-- comma-separated list in the environment variable BENCH_KEY (items already URL-encoded), e.g.
-- ...&match=host%3D%22@HOST@%22 with BENCH_HOST=h00,h01,... selects a random host each time.

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
