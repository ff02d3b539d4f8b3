-- Scenario "item_get": GET /api/v1/items/{id}, id drawn uniformly at random
-- from the seeded items (file named by BENCH_IDS, one UUID a line).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local lib = dofile(dir .. "lib.lua")

local requests

setup = lib.setup
done = lib.done

-- Every request is formatted once, here: request() only picks one, so that
-- wrk's own cost per request is as close as it gets to the /health
-- scenario's (which sends one pre-formatted request), and the comparison
-- of the two measures the server.
function init(args)
  lib.init_thread()
  local headers = lib.auth_headers({ ["Accept"] = "application/json" })
  requests = {}
  for i, id in ipairs(lib.load_lines(os.getenv("BENCH_IDS"))) do
    requests[i] = wrk.format("GET", "/api/v1/items/" .. id, headers)
  end
end

function request()
  lib.sent()
  return requests[math.random(#requests)]
end
