-- Scenario "item_get": GET /api/v1/items/{id}, id drawn uniformly at random
-- from the seeded items (file named by BENCH_IDS, one UUID a line).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local lib = dofile(dir .. "lib.lua")

local ids, headers

setup = lib.setup
response = lib.response
done = lib.done

function init(args)
  lib.init_thread()
  ids = lib.load_lines(os.getenv("BENCH_IDS"))
  headers = lib.auth_headers({ ["Accept"] = "application/json" })
end

function request()
  lib.sent()
  local id = ids[math.random(#ids)]
  return wrk.format("GET", "/api/v1/items/" .. id, headers)
end
