-- Scenario "movements_spread": POST /api/v1/movements over many items.
-- Each thread alternates: receive 1 unit on a random seeded item, then
-- issue 1 unit of the same item. Every item was seeded with stock, so an
-- issue never legitimately fails (a 409 here means lost stock).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local lib = dofile(dir .. "lib.lua")

local ids, headers
local n = 0
local current

setup = lib.setup
response = lib.response
done = lib.done

function init(args)
  lib.init_thread()
  ids = lib.load_lines(os.getenv("BENCH_IDS"))
  headers = lib.auth_headers({
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json",
  })
end

function request()
  lib.sent()
  n = n + 1
  local kind
  if n % 2 == 1 then
    current = ids[math.random(#ids)]
    kind = "receive"
  else
    kind = "issue"
  end
  local body = '{"item_id":"' .. current .. '","kind":"' .. kind .. '","quantity":1}'
  return wrk.format("POST", "/api/v1/movements", headers, body)
end
