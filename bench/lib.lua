-- Shared helpers for the wrk scenario scripts (loaded with dofile).
--
-- wrk runs one Lua state per thread plus one "main" state that calls
-- setup() and done(). Per-thread counters live in globals of the thread
-- states; done() collects them with thread:get() and prints one line
--   BENCH_RESULT {json}
-- that bench/run.sh stores and bench/report.py reads.
--
-- Environment (set by bench/run.sh):
--   BENCH_TOKEN      bearer token for /api/v1 (and the UI's session cookie)
--   BENCH_SCENARIO   scenario name echoed into the result
--   BENCH_ACTIVE_MS  (optional) after this many ms a thread stops sending
--                    and lets its in-flight requests finish (see delay()).

local M = {}

local ffi_ok, ffi = pcall(require, "ffi")
if ffi_ok then
  ffi_ok = pcall(ffi.cdef, [[
    typedef struct { long tv_sec; long tv_usec; } bench_timeval;
    int gettimeofday(bench_timeval *tv, void *tz);
  ]])
end
local tv = ffi_ok and ffi.new("bench_timeval") or nil

-- Wall-clock milliseconds (ms precision with LuaJIT's ffi, else seconds).
function M.now_ms()
  if tv ~= nil then
    ffi.C.gettimeofday(tv, nil)
    return tonumber(tv.tv_sec) * 1000 + math.floor(tonumber(tv.tv_usec) / 1000)
  end
  return os.time() * 1000
end

M.token = os.getenv("BENCH_TOKEN") or ""
M.scenario = os.getenv("BENCH_SCENARIO") or "unnamed"

function M.auth_headers(extra)
  local h = { ["Authorization"] = "Bearer " .. M.token }
  if extra then
    for k, v in pairs(extra) do h[k] = v end
  end
  return h
end

-- Headers of a signed-in browser asking for a UI page: the session cookie
-- carries the same token as the API's bearer (the UI's sign-in and the
-- API's login open the same kind of session).
function M.page_headers(extra)
  local h = {
    ["Cookie"] = "inventory_session=" .. M.token,
    ["Accept"] = "text/html",
  }
  if extra then
    for k, v in pairs(extra) do h[k] = v end
  end
  return h
end

-- Reads non-empty lines of a file into an array; fails loudly if missing.
function M.load_lines(path)
  assert(path and path ~= "", "file path not set")
  local f = assert(io.open(path, "r"))
  local out = {}
  for line in f:lines() do
    if line ~= "" then out[#out + 1] = line end
  end
  f:close()
  assert(#out > 0, "no lines in " .. path)
  return out
end

------------------------------------------------------------------ threads

local threads = {}  -- main state only
local next_tid = 0

-- Use as the script's setup(): numbers threads, keeps them for done().
function M.setup(thread)
  next_tid = next_tid + 1
  thread:set("bench_tid", next_tid)
  threads[#threads + 1] = thread
end

-- Call from init() in the thread state.
function M.init_thread()
  local tid = bench_tid or 0
  math.randomseed(M.now_ms() + tid * 7919)
  -- globals, read back by done() through thread:get()
  bench_status = {}
  -- wrk calls request() once in the first thread's state before the run
  -- (script_verify_request, to count pipelined requests); that call sends
  -- nothing, so it is not counted.
  bench_sent = (tid == 1) and -1 or 0
  bench_responses = 0
  bench_start_ms = M.now_ms()
  bench_last_ms = bench_start_ms
  local active = tonumber(os.getenv("BENCH_ACTIVE_MS") or "")
  bench_deadline_ms = active and (bench_start_ms + active) or nil
end

-- Call from request() for every request handed to wrk.
function M.sent()
  bench_sent = bench_sent + 1
end

-- Use as (or call from) the script's response(). The read scenarios
-- (health, item_get, item_list and the page_* scenarios) do not install it: wrk then hands no
-- response to Lua, which on this 2-core machine would take CPU from the
-- server under test (more so for larger bodies); done() then takes the
-- counts from wrk's own summary (completed responses, and those with a
-- status of 400 or more), without a breakdown by code.
function M.response(status, headers, body)
  bench_status[status] = (bench_status[status] or 0) + 1
  bench_responses = bench_responses + 1
  bench_last_ms = M.now_ms()
end

-- Use as the script's delay() when BENCH_ACTIVE_MS is set: once the
-- deadline has passed no new request is sent (wrk is run for longer than
-- the active window, so every request sent has been answered when it
-- stops; no request is abandoned mid-flight).
function M.delay()
  if bench_deadline_ms and M.now_ms() >= bench_deadline_ms then
    return 3600 * 1000
  end
  return 0
end

------------------------------------------------------------------ output

local function json_encode(v)
  local t = type(v)
  if t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    if v == math.floor(v) and math.abs(v) < 1e15 then
      return string.format("%d", v)
    end
    return string.format("%.6f", v)
  elseif t == "string" then
    return '"' .. v:gsub('[%c"\\]', function(c)
      return string.format("\\u%04x", c:byte())
    end) .. '"'
  elseif t == "boolean" then
    return tostring(v)
  elseif t == "table" then
    local parts = {}
    for k, val in pairs(v) do
      parts[#parts + 1] = json_encode(tostring(k)) .. ":" .. json_encode(val)
    end
    table.sort(parts)
    return "{" .. table.concat(parts, ",") .. "}"
  end
  return "null"
end
M.json_encode = json_encode

-- Use as the script's done(): sums the thread counters and prints the
-- BENCH_RESULT line. Latencies are in microseconds. A script with counters
-- of its own passes extra(getters, out): getters holds one function per
-- thread (name -> that thread's global), out the result before printing.
function M.done(summary, latency, requests, extra)
  local status, sent, responses = {}, 0, 0
  local first_ms, last_ms
  for _, thread in ipairs(threads) do
    for code, n in pairs(thread:get("bench_status") or {}) do
      local key = tostring(code)
      status[key] = (status[key] or 0) + n
    end
    sent = sent + (thread:get("bench_sent") or 0)
    responses = responses + (thread:get("bench_responses") or 0)
    local s, l = thread:get("bench_start_ms"), thread:get("bench_last_ms")
    if s and (not first_ms or s < first_ms) then first_ms = s end
    if l and (not last_ms or l > last_ms) then last_ms = l end
  end
  local non2xx = 0
  for code, n in pairs(status) do
    local c = tonumber(code)
    if c < 200 or c > 299 then non2xx = non2xx + n end
  end
  local duration_s = summary.duration / 1e6
  local active_s = (first_ms and last_ms and last_ms > first_ms)
    and (last_ms - first_ms) / 1000 or duration_s
  if responses == 0 and summary.requests > 0 then
    -- no response() installed: wrk's counts (see M.response)
    responses = summary.requests
    non2xx = summary.errors.status
    status = { ["below 400"] = summary.requests - summary.errors.status,
               ["400 or more"] = summary.errors.status }
    active_s = duration_s
    if sent < responses then sent = responses end
  end
  local out = {
    scenario = M.scenario,
    threads = #threads,
    duration_s = duration_s,
    active_s = active_s,
    requests = summary.requests,
    bytes = summary.bytes,
    rps = summary.requests / duration_s,
    -- rate over the window in which requests were being sent; equals
    -- rps (within a few ms) unless BENCH_ACTIVE_MS left an idle tail
    rps_active = responses / active_s,
    errors = {
      connect = summary.errors.connect,
      read = summary.errors.read,
      write = summary.errors.write,
      status = summary.errors.status,
      timeout = summary.errors.timeout,
    },
    status = status,
    non2xx = non2xx,
    sent = sent,
    responses = responses,
    unanswered = sent - responses,
    latency_us = {
      min = latency.min,
      mean = latency.mean,
      stdev = latency.stdev,
      max = latency.max,
      p50 = latency:percentile(50),
      p90 = latency:percentile(90),
      p99 = latency:percentile(99),
      p999 = latency:percentile(99.9),
    },
  }
  if extra then
    local getters = {}
    for _, thread in ipairs(threads) do
      getters[#getters + 1] = function(name) return thread:get(name) end
    end
    extra(getters, out)
  end
  io.write("BENCH_RESULT ", json_encode(out), "\n")
end

return M
