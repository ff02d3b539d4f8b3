-- Scenario "movements_hot": POST /api/v1/movements issuing 1 unit of ONE
-- item (BENCH_HOT_ID) from every connection at once. The item holds far
-- more stock than can be issued in the run, so every issue should succeed
-- and the drop in on_hand must equal the number of 201 responses exactly.
--
-- With BENCH_ACTIVE_MS set, threads stop sending after that window and
-- wrk (run for longer) waits for in-flight requests, so no issue is left
-- unanswered; done() reports sent vs responses to prove it.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local lib = dofile(dir .. "lib.lua")

local req

setup = lib.setup
response = lib.response
done = lib.done
delay = lib.delay

function init(args)
  lib.init_thread()
  local id = os.getenv("BENCH_HOT_ID")
  assert(id and id ~= "", "BENCH_HOT_ID not set")
  req = wrk.format("POST", "/api/v1/movements",
    lib.auth_headers({
      ["Content-Type"] = "application/json",
      ["Accept"] = "application/json",
    }),
    '{"item_id":"' .. id .. '","kind":"issue","quantity":1}')
end

function request()
  lib.sent()
  return req
end
