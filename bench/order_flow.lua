-- Scenario "order_flow": complete sales-order flows over many items.
-- A flow is three requests, each sent only after the previous one answered:
--   POST /api/v1/sales-orders   3 lines of 1 unit, 3 distinct random seeded items
--   POST /api/v1/sales-orders/{id}/confirm   (no body)
--   POST /api/v1/sales-orders/{id}/ship      (no body: everything outstanding)
--
-- wrk gives Lua no handle on the connection a response came from, so the
-- chaining is per thread: response() reads the answer (the order's status
-- says which step it answered) and queues the flow's next step; request()
-- sends a queued step if there is one, else starts a new flow. Every step
-- is thus sent after its predecessor's answer, on whichever of the
-- thread's connections is free first.
--
-- BENCH_ACTIVE_MS: after this window no new flow starts, but the steps of
-- the flows already started are still sent (delay() claims a queued step
-- before letting a connection send), so when wrk stops (it runs longer)
-- every flow started has been shipped or refused. The result counts flows
-- shipped within the window (flows_in_window) and in all.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local lib = dofile(dir .. "lib.lua")

local ids, headers
local queue, qhead, qtail = {}, 1, 0 -- queued next steps: {path}
local claimed = 0                    -- queued steps promised by delay()

setup = lib.setup

function init(args)
  lib.init_thread()
  ids = lib.load_lines(os.getenv("BENCH_IDS"))
  assert(#ids >= 3, "need at least 3 item ids")
  headers = lib.auth_headers({
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json",
  })
  bench_created, bench_confirmed, bench_shipped = 0, 0, 0
  bench_shipped_in_window = 0
  bench_flows_started = 0
  bench_failed = {}   -- "status problem-type" -> count
  -- wrk calls request() once in the first thread before the run to check
  -- the script (script_verify_request); that call sends nothing
  verify_pending = (bench_tid or 0) == 1
end

local function push(path)
  qtail = qtail + 1
  queue[qtail] = path
end

local function pop()
  if qhead > qtail then return nil end
  local v = queue[qhead]
  queue[qhead] = nil
  qhead = qhead + 1
  return v
end

local function new_order_body()
  local a = math.random(#ids)
  local b = math.random(#ids - 1)
  if b >= a then b = b + 1 end
  local c
  repeat c = math.random(#ids) until c ~= a and c ~= b
  return '{"reference":"bench-flow","lines":['
    .. '{"item_id":"' .. ids[a] .. '","quantity":1,"unit_price":"1.00"},'
    .. '{"item_id":"' .. ids[b] .. '","quantity":1,"unit_price":"2.50"},'
    .. '{"item_id":"' .. ids[c] .. '","quantity":1,"unit_price":"0.99"}]}'
end

function delay()
  if bench_deadline_ms and lib.now_ms() >= bench_deadline_ms then
    if (qtail - qhead + 1) > claimed then
      claimed = claimed + 1
      return 0
    end
    return 3600 * 1000 -- nothing left to send: park this connection
  end
  return 0
end

function request()
  lib.sent()
  if verify_pending then
    verify_pending = false
    return wrk.format("POST", "/api/v1/sales-orders", headers, new_order_body())
  end
  local path = pop()
  if path then
    if claimed > 0 then claimed = claimed - 1 end
    return wrk.format("POST", path, headers)
  end
  bench_flows_started = bench_flows_started + 1
  return wrk.format("POST", "/api/v1/sales-orders", headers, new_order_body())
end

function response(status, hdrs, body)
  lib.response(status, hdrs, body)
  local state = body and body:match('"status":"([%w_]+)"')
  if status == 201 and state == "draft" then
    bench_created = bench_created + 1
    local id = body:match('^{"id":"([%x-]+)"') or body:match('"id":"([%x-]+)"')
    push("/api/v1/sales-orders/" .. id .. "/confirm")
  elseif status == 200 and state == "confirmed" then
    bench_confirmed = bench_confirmed + 1
    local id = body:match('^{"id":"([%x-]+)"') or body:match('"id":"([%x-]+)"')
    push("/api/v1/sales-orders/" .. id .. "/ship")
  elseif status == 200 and state == "shipped" then
    bench_shipped = bench_shipped + 1
    if not bench_deadline_ms or bench_last_ms <= bench_deadline_ms then
      bench_shipped_in_window = bench_shipped_in_window + 1
    end
  else
    -- a refused step ends its flow; keep what it said
    local key = tostring(status) .. " " .. ((body or ""):match('"type":"([^"]+)"') or "")
    bench_failed[key] = (bench_failed[key] or 0) + 1
  end
end

function done(summary, latency, requests)
  lib.done(summary, latency, requests, function(thread_get, out)
    local active_ms = tonumber(os.getenv("BENCH_ACTIVE_MS") or "")
    local t = { created = 0, confirmed = 0, shipped = 0, shipped_in_window = 0,
                flows_started = 0 }
    local failed = {}
    for _, get in ipairs(thread_get) do
      t.created = t.created + (get("bench_created") or 0)
      t.confirmed = t.confirmed + (get("bench_confirmed") or 0)
      t.shipped = t.shipped + (get("bench_shipped") or 0)
      t.shipped_in_window = t.shipped_in_window + (get("bench_shipped_in_window") or 0)
      t.flows_started = t.flows_started + (get("bench_flows_started") or 0)
      for k, v in pairs(get("bench_failed") or {}) do failed[k] = (failed[k] or 0) + v end
    end
    t.failed = failed
    if active_ms then
      t.window_s = active_ms / 1000
      t.flows_per_s = t.shipped_in_window / t.window_s
    else
      t.window_s = out.duration_s
      t.flows_per_s = t.shipped / out.duration_s
    end
    out.flows = t
  end)
end
