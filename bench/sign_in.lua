-- Scenario "sign_in": POST /api/v1/auth/login with BENCH_SIGNIN_USER and
-- BENCH_SIGNIN_PASSWORD. With the right password it measures sign-ins per
-- second, which argon2 bounds by design; with a throttled username it
-- measures how cheaply the 429s are answered (no password is hashed).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local lib = dofile(dir .. "lib.lua")

local req

setup = lib.setup
done = lib.done
response = lib.response

function init(args)
  lib.init_thread()
  local body = lib.json_encode({
    username = os.getenv("BENCH_SIGNIN_USER") or "admin",
    password = os.getenv("BENCH_SIGNIN_PASSWORD") or "",
  })
  req = wrk.format("POST", "/api/v1/auth/login",
    { ["Content-Type"] = "application/json" }, body)
end

function request()
  lib.sent()
  return req
end
