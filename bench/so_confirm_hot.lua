-- Scenario "so_confirm_hot": POST /api/v1/sales-orders/{id}/confirm on
-- draft orders made beforehand (BENCH_ORDERS: one id per line), each of
-- 1 unit of ONE item that holds fewer units than there are orders. Every
-- order is confirmed once: thread t of BENCH_THREADS takes every
-- BENCH_THREADS-th order starting at t. A connection is let send only
-- after delay() has claimed an order for it, so when a thread's orders are
-- used up its connections park, and wrk (run with a time cap) stops with
-- no request in flight. 200 = confirmed (1 unit reserved), 409 =
-- insufficient-stock; anything else is reported as it came.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local lib = dofile(dir .. "lib.lua")

local mine = {}
local claimed, nextpos = 0, 1
local headers

setup = lib.setup

function init(args)
  lib.init_thread()
  local all = lib.load_lines(os.getenv("BENCH_ORDERS"))
  local nthreads = tonumber(os.getenv("BENCH_THREADS") or "") or 2
  local tid = bench_tid or 1
  for i = tid, #all, nthreads do mine[#mine + 1] = all[i] end
  headers = lib.auth_headers({ ["Accept"] = "application/json" })
  bench_orders = #mine
  bench_ok, bench_refused = 0, 0
  bench_first_ms, bench_last_ok_ms = nil, nil
  bench_types = {}
  -- wrk calls request() once in the first thread before the run to check
  -- the script (script_verify_request); that call sends nothing
  verify_pending = (tid == 1)
end

function delay()
  if claimed < #mine then
    claimed = claimed + 1
    return 0
  end
  return 3600 * 1000 -- every order of this thread has been sent
end

function request()
  if verify_pending then
    verify_pending = false
    lib.sent() -- lib counts from -1 in the first thread for this call
    return wrk.format("GET", "/health")
  end
  local id = mine[nextpos]
  if id == nil then
    -- should not happen (delay() lets a connection send only a claimed
    -- order); if wrk ever asks, send a harmless read and count it
    bench_stray = (bench_stray or 0) + 1
    return wrk.format("GET", "/health")
  end
  nextpos = nextpos + 1
  lib.sent()
  if bench_first_ms == nil then bench_first_ms = lib.now_ms() end
  return wrk.format("POST", "/api/v1/sales-orders/" .. id .. "/confirm", headers)
end

function response(status, hdrs, body)
  lib.response(status, hdrs, body)
  if status == 200 and body and body:find('"status":"confirmed"', 1, true) then
    bench_ok = bench_ok + 1
    bench_last_ok_ms = bench_last_ms
  elseif status == 409 then
    bench_refused = bench_refused + 1
  end
  local t = tostring(status) .. " " .. ((body or ""):match('"type":"([^"]+)"') or "")
  bench_types[t] = (bench_types[t] or 0) + 1
end

function done(summary, latency, requests)
  lib.done(summary, latency, requests, function(thread_get, out)
    local c = { orders = 0, ok = 0, refused = 0, types = {} }
    local first, last_ok
    for _, get in ipairs(thread_get) do
      c.orders = c.orders + (get("bench_orders") or 0)
      c.ok = c.ok + (get("bench_ok") or 0)
      c.refused = c.refused + (get("bench_refused") or 0)
      c.stray = (c.stray or 0) + (get("bench_stray") or 0)
      for k, v in pairs(get("bench_types") or {}) do c.types[k] = (c.types[k] or 0) + v end
      local f, l = get("bench_first_ms"), get("bench_last_ok_ms")
      if f and (not first or f < first) then first = f end
      if l and (not last_ok or l > last_ok) then last_ok = l end
    end
    if first and last_ok and last_ok > first then
      c.ok_window_s = (last_ok - first) / 1000
      c.confirms_per_s = c.ok / c.ok_window_s
    end
    out.confirms = c
  end)
end
