-- Scenario "item_list": GET /api/v1/items?limit=50 (first page, 50 items
-- serialised per response).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local lib = dofile(dir .. "lib.lua")

local req

setup = lib.setup
response = lib.response
done = lib.done

function init(args)
  lib.init_thread()
  req = wrk.format("GET", "/api/v1/items?limit=50",
    lib.auth_headers({ ["Accept"] = "application/json" }))
end

function request()
  lib.sent()
  return req
end
