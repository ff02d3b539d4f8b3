-- Scenarios "page_items" and "page_dashboard": one UI page, server-rendered
-- HTML, requested as a signed-in browser does (session cookie, Accept:
-- text/html). BENCH_PAGE_PATH names the page (default /items: the items
-- list, first page of 50 sorted by SKU; run.sh sets / for the dashboard).
--
-- No response() is installed (see lib.lua): a page that answered a
-- redirect to /login would still count as "below 400", so run.sh checks
-- every page with the same cookie first (benchctl.py page-weight fails on
-- anything but 200 text/html) and the report shows bytes per response.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local lib = dofile(dir .. "lib.lua")

local req

setup = lib.setup
done = lib.done

function init(args)
  lib.init_thread()
  local path = os.getenv("BENCH_PAGE_PATH")
  if path == nil or path == "" then path = "/items" end
  req = wrk.format("GET", path, lib.page_headers())
end

function request()
  lib.sent()
  return req
end
