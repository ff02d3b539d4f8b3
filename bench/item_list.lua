-- Scenario "item_list": GET /api/v1/items?limit=50 (first page, 50 items
-- serialised per response). BENCH_LIST_PATH, when set, replaces the path
-- (run.sh uses it for a deep page: /api/v1/items?limit=50&cursor=...).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local lib = dofile(dir .. "lib.lua")

local req

setup = lib.setup
done = lib.done

function init(args)
  lib.init_thread()
  local path = os.getenv("BENCH_LIST_PATH")
  if path == nil or path == "" then path = "/api/v1/items?limit=50" end
  req = wrk.format("GET", path,
    lib.auth_headers({ ["Accept"] = "application/json" }))
end

function request()
  lib.sent()
  return req
end
