-- Scenario "page_item": GET /items/{id}, an item's UI page (stock per
-- location, its ledger, the stock-over-time chart), id drawn uniformly at
-- random from the seeded items (file named by BENCH_IDS, one UUID a line),
-- requested as a signed-in browser does (session cookie, Accept: text/html).
-- As in item_get.lua every request is formatted once, in init().
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local lib = dofile(dir .. "lib.lua")

local requests

setup = lib.setup
done = lib.done

function init(args)
  lib.init_thread()
  local headers = lib.page_headers()
  requests = {}
  for i, id in ipairs(lib.load_lines(os.getenv("BENCH_IDS"))) do
    requests[i] = wrk.format("GET", "/items/" .. id, headers)
  end
end

function request()
  lib.sent()
  return requests[math.random(#requests)]
end
