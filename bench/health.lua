-- Scenario "health": GET /health (no auth, no database) - the ceiling of
-- what the HTTP stack does on this machine.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local lib = dofile(dir .. "lib.lua")

local req

setup = lib.setup
done = lib.done

function init(args)
  lib.init_thread()
  req = wrk.format("GET", "/health")
end

function request()
  lib.sent()
  return req
end
