#!/usr/bin/env python3
"""Writes docs/PERFORMANCE.md (SQLite runs) or docs/PERFORMANCE-POSTGRES.md
(`--backend postgres` runs) from one bench/run.sh result directory.

Usage: python3 bench/report.py bench/out/<run> [--output FILE] [--orders-only]

Reads OUT/meta.env, OUT/seed.json, OUT/<scenario>.json (BENCH_RESULT lines
printed by the wrk scripts), OUT/<scenario>.cmd and OUT/hot_check.json.
Standard library only. It reports figures and compares them with the
targets in bench/README.md; it never fails on a missed target.
"""

import argparse
import datetime
import json
import os
import platform
import re
import subprocess

SCENARIOS = [
    ("health", "GET /health", "HTTP stack only: no auth, no database"),
    ("item_get_cold", "GET /api/v1/items/{id} (cold cache)", "auth + one item read, random ids over the seeded set, first pass: the in-process item cache starts empty"),
    ("item_get", "GET /api/v1/items/{id}", "auth + one item read, random ids over the seeded set, after every seeded item was read once (`benchctl.py warm`): the cache holds them all"),
    ("item_list", "GET /api/v1/items?limit=50", "auth + first page of 50 items"),
    ("page_items", "GET /items (UI page)", "the items list page, first page of 50 sorted by SKU, as a signed-in browser asks for it (session cookie, Accept: text/html)"),
    ("page_item", "GET /items/{id} (UI page)", "an item's page (stock per location, its ledger, the stock chart), random ids over the seeded set, session cookie"),
    ("page_dashboard", "GET / (UI page)", "the dashboard (item, low-stock and movement figures, stock value, three 30-day charts, latest movements), session cookie"),
    ("movements_spread", "POST /api/v1/movements (many items)",
     "durable writes: receive 1 then issue 1 on random seeded items"),
    ("movements_hot", "POST /api/v1/movements (one item)",
     "durable writes: issue 1 on one hot item from every connection"),
]

TARGETS_MB = 50
# After load the item cache is full: bounded by CACHE_MAX_BYTES (64 MiB by
# default), the whole process must stay under this.
TARGET_AFTER_LOAD_MB = 100
LIST_RATIO_TARGET = 1.5
PAGES = [("page_items", "items list", "/items"), ("page_item", "an item", "/items/{id}"),
         ("page_dashboard", "dashboard", "/")]
# The issue: "the items page at 1,000,000 items renders in the browser in well
# under a second". The bench reads "well under" as: the server's p99 under
# load leaves at least three quarters of the second to the network, parsing
# and layout (bench/README.md).
PAGE_BUDGET_MS = 1000
PAGE_SERVER_SHARE_MS = 250
POSTGRES_REPORT = "PERFORMANCE-POSTGRES.md"


def pg_value(setting, unit):
    """pg_settings (setting, unit) as PostgreSQL prints it: 65536, 8kB -> 512MB."""
    sizes = {"B": 1, "kB": 1024, "8kB": 8192, "MB": 1024 ** 2, "GB": 1024 ** 3}
    if unit in sizes and setting.lstrip("-").isdigit():
        n = int(setting) * sizes[unit]
        for name, f in (("GB", 1024 ** 3), ("MB", 1024 ** 2), ("kB", 1024)):
            if n and n % f == 0:
                return f"{n // f}{name}"
        return f"{n}B"
    return setting + unit


def rounds_of(meta):
    r = meta.get("rounds", "")
    return int(r) if r.isdigit() else 0


def list_scenarios(meta):
    """(name, size, which, round) for the postgres list-at-scale runs: the
    10,000-item server and the 1,000,000-item one in turn, round by round."""
    out = []
    small, large = meta.get("list_small"), meta.get("list_large")
    if not (small and large and small.isdigit() and large.isdigit()):
        return out
    for rnd in range(1, rounds_of(meta) + 1):
        for which in ("first", "deep"):
            for size in (small, large):
                out.append((f"list_{size}_{which}_r{rnd}", int(size), which, rnd))
    return out


def median(values):
    v = sorted(values)
    if not v:
        return None
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2


def read_target_row(label, rounds, ratio, rh, rg, meta):
    """The targets-table row for reads against /health: judged on the median
    of the alternating rounds when they ran, else on the single pair."""
    single = (f"the single {meta.get('duration', '?')} s pair {ratio * 100:.0f}% "
              f"({rate(rg):,.0f} vs {rate(rh):,.0f} req/s)") if ratio is not None else None
    if rounds:
        med = median([rr for _, _, _, rr in rounds])
        each = ", ".join(f"{rr * 100:.0f}%" for _, _, _, rr in rounds)
        return (f"| {label} | median of {len(rounds)} alternating rounds {med * 100:.0f}% "
                f"({each}){'; ' + single if single else ''} | {verdict(med >= 0.5)} |")
    if single:
        return f"| {label} | {single} | {verdict(ratio >= 0.5)} |"
    return None


def read_rounds(out, meta):
    """[(round, health result, item_get result, ratio)] of the alternating
    read rounds that ran."""
    rows = []
    for rnd in range(1, rounds_of(meta) + 1):
        h = read_json(os.path.join(out, f"health_r{rnd}.json"))
        g = read_json(os.path.join(out, f"item_get_r{rnd}.json"))
        if h and g and rate(h):
            rows.append((rnd, h, g, rate(g) / rate(h)))
    return rows


def page_rounds(out, meta):
    """[(round, health result, {scenario: result})] of the page rounds at
    list_large items (postgres --million)."""
    large = meta.get("list_large", "")
    rows = []
    for rnd in range(1, rounds_of(meta) + 1):
        h = read_json(os.path.join(out, f"health_{large}_r{rnd}.json"))
        got = {name: read_json(os.path.join(out, f"{name}_{large}_r{rnd}.json"))
               for name, _, _ in PAGES}
        if h or any(got.values()):
            rows.append((rnd, h, got))
    return rows


def p99_of(r):
    return ((r or {}).get("latency_us") or {}).get("p99")


def per_response(r):
    if not r or not r.get("requests"):
        return "-"
    return f"{r.get('bytes', 0) / r['requests']:,.0f}"


def settle(out, name):
    v = read_text(os.path.join(out, name + ".settle"))
    return "-" if v is None else v


def starved(results, meta):
    """Page scenarios that completed fewer responses than wrk had
    connections: their percentiles cover only the requests that finished in
    time; the others were still queued when wrk stopped."""
    try:
        conns = int(meta.get("connections", ""))
    except ValueError:
        return []
    return [(name, r.get("responses", r.get("requests", 0))) for name, r in results
            if r and r.get("responses", r.get("requests", 0)) < conns]


def starved_note(w, rows, meta):
    if rows:
        w("**Fewer responses than connections** in "
          + ", ".join(f"`{n}` ({c:,})" for n, c in rows)
          + f": with {meta.get('connections')} connections each holding one request, most "
          "requests were still queued when wrk stopped. wrk's percentiles cover only the "
          "requests that completed, so they understate the wait; the idle server time in the "
          "page-weight table is the cost of one request, and *busy after* says how long the "
          "server (and PostgreSQL) went on working through the abandoned queue.")
        w("")


def kib(n):
    return "-" if n is None else f"{n / 1024:,.1f}"


def page_weight_section(w, pw, heading, intro):
    """The page-weight tables from one benchctl.py page-weight result."""
    if not pw:
        return
    assets = pw.get("assets") or {}
    w(heading)
    w("")
    w(intro)
    w("")
    if pw.get("compressed_by_server"):
        w("The server compressed some responses (`Content-Encoding` below): *sent* is the "
          "compressed size on the wire, *HTML* the decoded size.")
    else:
        w("The server does not compress: asked with `Accept-Encoding: gzip`, no response "
          "came back with a `Content-Encoding`, so *sent* equals the HTML's own size. The "
          "*gzip* columns are what `gzip -6` makes of the same bytes (what a compressing "
          "proxy or a compression layer in the server would send).")
    w("")
    w("| Page | Path | HTML KiB (sent) | HTML KiB gzip | CSS + JS linked | first load KiB (sent) "
      "| first load KiB gzip | cached KiB (sent) | idle server ms p50 / max |")
    w("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for pg_ in pw.get("pages") or []:
        linked = [a for a in pg_.get("assets") or [] if a in assets]
        w(f"| {pg_['label']} | `{pg_['path']}` | {kib(pg_.get('wire_bytes'))} "
          f"| {kib(pg_.get('gzip_bytes'))} | {len(linked)} "
          f"| {kib(pg_.get('first_load_wire_bytes'))} | {kib(pg_.get('first_load_gzip_bytes'))} "
          f"| {kib(pg_.get('cached_wire_bytes'))} "
          f"| {ms_plain(pg_.get('p50_ms'))} / {ms_plain(pg_.get('max_ms'))} |")
    w("")
    w("*First load*: the HTML plus every stylesheet and script it links, fetched once. "
      "*Cached*: the HTML alone, the assets having content-hashed names served with the "
      "`Cache-Control` below. *Idle server ms*: "
      f"{pw.get('samples', '?')} sequential requests for the page on one keep-alive "
      "connection with no other load (server time plus loopback, to the last byte), "
      "after one untimed request. KiB = 1,024 bytes; bodies only, headers not counted.")
    w("")
    if assets:
        w("| Asset | Kind | KiB (sent) | KiB gzip | Content-Encoding | Cache-Control |")
        w("| --- | --- | ---: | ---: | --- | --- |")
        for url, a in assets.items():
            if a.get("external"):
                w(f"| `{url}` | {a.get('kind')} | external | | | |")
                continue
            w(f"| `{url}` | {a.get('kind')} | {kib(a.get('wire_bytes'))} "
              f"| {kib(a.get('gzip_bytes'))} | {a.get('content_encoding') or 'none'} "
              f"| `{a.get('cache_control') or 'none'}` |")
        w("")


def ms_plain(v):
    return "-" if v is None else f"{v:.2f}"


def read_env(path):
    meta = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if "=" in line:
                k, v = line.split("=", 1)
                meta[k] = v
    return meta


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_text(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def cmd_output(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "unknown"
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                    break
    except OSError:
        pass
    return {
        "nproc": cmd_output(["nproc"]),
        "model": model,
        "memory": mem,
        "kernel": platform.release(),
        "os": cmd_output(["sh", "-c", ". /etc/os-release && echo \"$PRETTY_NAME\""]),
    }


def ms(us):
    return "-" if us is None else f"{us / 1000:.2f}"


def mb(kb):
    try:
        return int(kb) / 1024
    except (TypeError, ValueError):
        return None


def fmt_mb(kb):
    v = mb(kb)
    return "-" if v is None else f"{v:.1f} MB"


def rate(r):
    if not r:
        return None
    # the hot scenario has an idle tail after its active window: use the
    # rate over the window in which requests were sent
    return r["rps_active"] if r.get("scenario") == "movements_hot" else r["rps"]


def statuses(r):
    st = r.get("status") or {}
    return ", ".join(f"{k}: {v:,}" for k, v in sorted(st.items())) or "none"


def socket_errors(r):
    e = r.get("errors") or {}
    parts = [f"{k} {v}" for k, v in sorted(e.items()) if v and k != "status"]
    return ", ".join(parts) or "0"


def verdict(ok):
    return "met" if ok else "**not met**"


ORDERS_BEGIN = "<!-- orders:begin (bench/run.sh --orders-only rewrites this section) -->"
ORDERS_END = "<!-- orders:end -->"
FLOW_TARGET = 1000
HOT_CONFIRM_TARGET = 1000


def _load(out, name):
    return read_text(os.path.join(out, name))


def orders_section(out, meta, m, postgres):
    """The sales-order section (issue 12), from the run's order_* files;
    None when the run has none."""
    flow = read_json(os.path.join(out, "order_flow.json"))
    hot = read_json(os.path.join(out, "so_confirm_hot.json"))
    if not flow and not hot:
        return None
    made = read_json(os.path.join(out, "hot_orders.json")) or {}
    check = read_json(os.path.join(out, "so_confirm_hot_check.json")) or {}
    routes = (read_json(os.path.join(out, "order_flow_routes.json")) or {}).get("routes") or {}
    inv_http = (read_json(os.path.join(out, "invariants_http.json")) or {}).get("runs") or []
    inv_cli = read_json(os.path.join(out, "invariants_cli.json"))
    fill = read_json(os.path.join(out, "ledger_fill.json"))
    ledger = _load(out, "invariants_ledger_rows.txt")
    run_at = datetime.datetime.fromtimestamp(
        os.path.getmtime(os.path.join(out, "meta.env")), datetime.timezone.utc)
    L = []
    w = L.append
    w(ORDERS_BEGIN)
    w("## Sales orders (issue 12)")
    w("")
    backend = "PostgreSQL 15 + Redis" if postgres else f"SQLite, sync {meta.get('sync', '?')}"
    w(f"Measured {run_at.strftime('%Y-%m-%d %H:%M UTC')} on {m['nproc']} CPUs ({m['model']}, "
      f"{m['memory']}), {backend}, {meta.get('threads')} wrk threads and "
      f"{meta.get('connections')} connections, {int(meta.get('items', 0)):,} seeded items "
      f"holding {1000:,} units each, code at commit {meta.get('git_rev', '?')}"
      + (" with uncommitted changes under crates/" if meta.get("git_dirty", "0") not in ("", "0")
         else "") + ".")
    w(f"Command: `{meta.get('invocation', 'bench/run.sh')}`"
      + (" (only these scenarios run; the sections above come from the full run described "
         "under Run)" if meta.get("orders_only") == "1" else "") + ".")
    w("")
    loads = []
    for name, label in (("order_flow", "flows"), ("so_confirm_hot", "hot confirms"),
                        ("invariants", "invariants check")):
        b, a = _load(out, f"{name}.load_before"), _load(out, f"{name}.load_after")
        if b or a:
            loads.append(f"{label}: {b or '?'} before, {a or '?'} after")
    if loads:
        w("Load average (1, 5, 15 min) before and after each step: " + "; ".join(loads) + ". "
          "The machine has 2 cores; wrk and the server share them"
          + (" with PostgreSQL and Redis" if postgres else "")
          + ". The averages count the bench's own work (the seeding just before the first "
          "step, each step's load) as well as anything else running on the machine (other "
          "developers' builds and browser tests, which lower every figure here) and cannot "
          "tell them apart.")
        w("")

    if flow:
        f = flow.get("flows") or {}
        lat = flow.get("latency_us") or {}
        w("### Complete order flows over many items (`order_flow`)")
        w("")
        w("Each flow: `POST /api/v1/sales-orders` with 3 lines of 1 unit on 3 distinct random "
          "seeded items → `POST /{id}/confirm` → `POST /{id}/ship` with no body, each request "
          "sent when the previous one answered (`bench/order_flow.lua`). New flows start for "
          f"{f.get('window_s', 0):g} s; the flows started by then are finished in the "
          f"{meta.get('flow_tail', '?')} s after, and only flows shipped within the window "
          "are counted in the rate.")
        w("")
        w("| Figure | Value |")
        w("| --- | --- |")
        w(f"| **flows shipped per second** (within the window) | **{f.get('flows_per_s', 0):,.0f}** |")
        w(f"| flows started / created / confirmed / shipped (in all) | "
          f"{f.get('flows_started', 0):,} / {f.get('created', 0):,} / "
          f"{f.get('confirmed', 0):,} / {f.get('shipped', 0):,} |")
        failed = f.get("failed") or {}
        w(f"| refused steps | {', '.join(f'{k}: {v:,}' for k, v in sorted(failed.items())) or 'none'} |")
        w(f"| HTTP requests per second (all three steps, whole run) | {flow.get('rps', 0):,.0f} |")
        w(f"| latency per request, all steps mixed: p50 / p90 / p99 / max (ms) | "
          f"{ms(lat.get('p50'))} / {ms(lat.get('p90'))} / {ms(lat.get('p99'))} / {ms(lat.get('max'))} |")
        w(f"| socket errors; requests left unanswered | {socket_errors(flow)}; {flow.get('unanswered', '?')} |")
        w("")
        if routes:
            w("Server time per step, from the server's own "
              "`inventory_request_duration_seconds` (mean over every request since the server "
              "started, read right after this scenario, so these are the flows' requests; "
              "under 64 connections most of it is time queued behind the other connections' writes):")
            w("")
            w("| Route | Requests | Mean server time (ms) |")
            w("| --- | ---: | ---: |")
            for k, v in routes.items():
                w(f"| `{k}` | {v['count']:,} | {v['mean_ms']:.2f} |")
            w("")
        cmd = _load(out, "order_flow.cmd")
        if cmd:
            w(f"wrk: `{cmd}`")
            w("")

    if hot:
        c = hot.get("confirms") or {}
        lat = hot.get("latency_us") or {}
        w("### Confirms on one hot item, zero oversell (`so_confirm_hot`)")
        w("")
        w(f"Before the run, {made.get('orders', '?'):,} draft orders of 1 unit each were made "
          f"on one item holding {made.get('stock', '?'):,} units (`benchctl.py make-orders`, "
          f"{made.get('seconds', '?')} s); then each order was confirmed at most once, from "
          f"{meta.get('connections')} connections at once (`bench/so_confirm_hot.lua`). "
          "More orders than units: once the units are gone, confirms must be refused with 409 "
          "`insufficient-stock`.")
        if int(hot.get("sent") or 0) < int(made.get("orders") or 0):
            w("")
            w(f"wrk's time cap ({hot.get('duration_s', 0):.0f} s) ended the run after "
              f"{hot.get('sent', 0):,} of the {made.get('orders', 0):,} orders had been sent; "
              f"{hot.get('unanswered', 0)} confirms were still in flight and are not counted "
              "in the answers below (the check after the run counts the orders in the "
              "database, so it covers them).")
        w("")
        w("| Figure | Value |")
        w("| --- | --- |")
        w(f"| **confirms (200) per second**, first request to last 200 | "
          f"**{c.get('confirms_per_s', 0):,.0f}** ({c.get('ok', 0):,} in {c.get('ok_window_s', 0):.2f} s) |")
        w(f"| all confirm answers per second (200 and 409) | {hot.get('rps_active', 0):,.0f} |")
        w(f"| answers | {', '.join(f'{k.strip()}: {v:,}' for k, v in sorted((c.get('types') or {}).items()))} |")
        w(f"| latency p50 / p90 / p99 / max (ms) | {ms(lat.get('p50'))} / {ms(lat.get('p90'))} / "
          f"{ms(lat.get('p99'))} / {ms(lat.get('max'))} |")
        w(f"| requests sent / answered | {hot.get('sent', '?'):,} / {hot.get('responses', '?'):,} |")
        w("")
        if check:
            w("Checked after the run (`benchctl.py check-orders`: the item's stock, every "
              "order on it listed through `GET /api/v1/sales-orders`, then "
              "`GET /api/v1/admin/invariants`):")
            w("")
            inv = check.get("invariants") or {}
            w(f"- units received: {check.get('units_received'):,}; orders confirmed: "
              f"{check.get('confirmed_units'):,} units (orders by status: "
              f"{', '.join(f'{k} {v:,}' for k, v in sorted((check.get('orders_by_status') or {}).items()))})")
            w(f"- confirmed ≤ received (no oversell): "
              f"**{'yes' if check.get('confirmed_units', 0) <= check.get('units_received', 0) else 'NO'}**; "
              f"confirmed = 200 answers: {'yes' if check.get('confirmed_units') == check.get('responses_200') else 'no'}")
            w(f"- the item afterwards: on_hand {check.get('on_hand'):,}, reserved "
              f"{check.get('reserved'):,}, available {check.get('available'):,}")
            w(f"- `GET /api/v1/admin/invariants`: ok **{inv.get('ok')}**, {inv.get('rules', '?')} rules, "
              f"{inv.get('violations', '?')} violations ({inv.get('seconds', '?')} s)")
            w(f"- verdict: {check.get('verdict')}")
            w("")
        cmd = _load(out, "so_confirm_hot.cmd")
        if cmd:
            w(f"wrk: `{cmd}` (`hot_orders.txt`: the order ids, shuffled)")
            w("")

    if inv_http or inv_cli:
        w(f"### The invariants check at {int(ledger):,} ledger rows" if ledger and ledger.isdigit()
          else "### The invariants check")
        w("")
        if fill:
            w(f"The ledger was grown to that size with {fill.get('rows_added', 0):,} one-unit "
              f"receives on random seeded items through `POST /api/v1/movements/batch` "
              f"({fill.get('batch')} a call, {fill.get('workers')} clients, "
              f"{fill.get('seconds')} s: {fill.get('rows_per_second', 0):,.0f} movements/s); "
              "then, with the server otherwise idle:")
            w("")
        w("| Check | Seconds | Result |")
        w("| --- | ---: | --- |")
        for i, r in enumerate(inv_http, 1):
            res = (f"ok {r.get('ok')}, {r.get('rules')} rules, {r.get('violations')} violations"
                   if r.get("status") == 200 else f"HTTP {r.get('status')}: {r.get('error', '')[:80]}")
            w(f"| `GET /api/v1/admin/invariants` #{i} | {r.get('seconds')} | {res} |")
        if inv_cli:
            w(f"| `inventory check` (CLI, on the same database, server running) | "
              f"{inv_cli.get('seconds')} | exit {inv_cli.get('exit')} |")
        w("")

    w("### Against the targets (issue 12)")
    w("")
    w("| Target | Measured | |")
    w("| --- | --- | --- |")
    if flow:
        fps = (flow.get("flows") or {}).get("flows_per_s", 0)
        w(f"| ≥ {FLOW_TARGET:,} complete order flows/s over many items | {fps:,.0f} | {verdict(fps >= FLOW_TARGET)} |")
    if hot:
        cps = (hot.get("confirms") or {}).get("confirms_per_s", 0)
        w(f"| ≥ {HOT_CONFIRM_TARGET:,} confirms/s on one hot item | {cps:,.0f} | {verdict(cps >= HOT_CONFIRM_TARGET)} |")
        if check:
            w(f"| zero oversell on the hot item, invariants ok | {check.get('verdict')} | "
              f"{'met' if check.get('ok') else '**not met**'} |")
    if inv_http:
        secs = [r.get("seconds") for r in inv_http if r.get("status") == 200]
        at = f" at {int(ledger):,} rows" if ledger and ledger.isdigit() else ""
        cli = f", {inv_cli.get('seconds')} s with the CLI" if inv_cli else ""
        answered = bool(secs) and all(r.get("ok") for r in inv_http)
        w(f"| the invariants check answers at {int(meta.get('ledger_rows_target') or 1000000):,} "
          f"ledger rows (timed, no figure set) | {', '.join(f'{x} s' for x in secs) or 'no answer'} "
          f"over HTTP{cli}{at} | {'answered, ok' if answered else '**not ok**'} |")
    w("")
    w("What limits these figures, and what would lift them: "
      "[bench/README.md, \"Sales orders: findings\"](../bench/README.md#sales-orders-findings).")
    w("")
    w(ORDERS_END)
    return L


def splice_orders(output, section):
    """Replaces the orders section of an existing report (or inserts it
    before the Memory section, or at the end), leaving the rest as it was."""
    try:
        with open(output) as f:
            text = f.read()
    except OSError:
        text = ""
    block = "\n".join(section)
    if ORDERS_BEGIN in text and ORDERS_END in text:
        head, rest = text.split(ORDERS_BEGIN, 1)
        _, tail = rest.split(ORDERS_END, 1)
        text = head + block + tail
    elif "\n## Memory" in text:
        head, tail = text.split("\n## Memory", 1)
        text = head.rstrip("\n") + "\n\n" + block + "\n\n## Memory" + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    finish([text], output)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--output", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "docs", "PERFORMANCE.md"))
    p.add_argument("--orders-only", action="store_true",
                   help="rewrite only the sales-order section of the report (a run with "
                        "--orders-only); the rest of the report stays as it is")
    args = p.parse_args()

    meta = read_env(os.path.join(args.out, "meta.env"))
    postgres = meta.get("backend") == "postgres"
    if postgres and args.output.endswith(os.path.join("docs", "PERFORMANCE.md")) \
            and p.get_default("output") == args.output:
        args.output = os.path.join(os.path.dirname(args.output), POSTGRES_REPORT)
    if args.orders_only:
        section = orders_section(args.out, meta, machine(), postgres)
        if section is None:
            raise SystemExit(f"no sales-order results in {args.out}")
        splice_orders(args.output, section)
        return
    seed = read_json(os.path.join(args.out, "seed.json")) or {}
    results = {name: read_json(os.path.join(args.out, name + ".json")) for name, _, _ in SCENARIOS}
    cmds = {name: read_text(os.path.join(args.out, name + ".cmd")) for name, _, _ in SCENARIOS}
    hot = read_json(os.path.join(args.out, "hot_check.json")) or {}
    m = machine()
    run_at = datetime.datetime.fromtimestamp(
        os.path.getmtime(os.path.join(args.out, "meta.env")), datetime.timezone.utc)
    warn_lines = read_text(os.path.join(args.out, "server_log_warnings.txt")) or "0"

    L = []
    w = L.append
    w("# Performance: PostgreSQL + Redis" if postgres else "# Performance")
    w("")
    w("Generated by `bench/run.sh` (through `bench/report.py`); do not edit by hand, "
      "run the benchmark again instead. How to run it, what each scenario measures and "
      "the targets: [bench/README.md](../bench/README.md).")
    w("")
    w("These are figures from one run on one machine, with wrk and the server sharing "
      "its CPUs. Compare runs on the same machine; the absolute numbers do not transfer.")
    w("")
    if postgres:
        w("This run used PostgreSQL 15 and Redis (`bench/run.sh --backend postgres`); the "
          "SQLite figures are in [PERFORMANCE.md](PERFORMANCE.md). PostgreSQL, Redis, wrk and "
          "the server all share the machine's CPUs.")
        w("")
    elif os.path.exists(os.path.join(os.path.dirname(os.path.abspath(args.output)),
                                     POSTGRES_REPORT)):
        w(f"Figures on PostgreSQL 15 with Redis (`bench/run.sh --backend postgres`): "
          f"[{POSTGRES_REPORT}]({POSTGRES_REPORT}).")
        w("")
    w("## Run")
    w("")
    w(f"- Date: {run_at.strftime('%Y-%m-%d %H:%M UTC')}")
    w(f"- Machine: {m['nproc']} CPUs ({m['model']}), {m['memory']} memory, "
      f"Linux {m['kernel']}, {m['os']}")
    w(f"- Software: {cmd_output(['rustc', '--version'])}; "
      f"{cmd_output(['wrk', '--version']).split('Copyright')[0].strip()}")
    if meta.get("git_rev"):
        dirty = meta.get("git_dirty", "0")
        w(f"- Code: commit {meta['git_rev']}"
          + (f" with uncommitted changes in {dirty} file(s) under crates/ or Cargo.*"
             if dirty not in ("", "0") else ""))
    w(f"- Command: `{meta.get('invocation', 'bench/run.sh')}`"
      + (f" (binary `{meta['binary']}`)" if meta.get("binary") else ""))
    if postgres:
        pgs = {}
        for line in (read_text(os.path.join(args.out, "pg_settings.txt")) or "").splitlines():
            parts = line.split("|")
            if len(parts) == 3:
                pgs[parts[0]] = pg_value(parts[1], parts[2])
        ver = (read_text(os.path.join(args.out, "pg_version.txt")) or "?").split(" on ")[0]
        w(f"- Backend: **{ver}**, a throwaway cluster started by `bench/pg.sh` (Debian "
          "binaries, fresh `initdb`, trust auth on 127.0.0.1, database `postgres`)")
        w(f"- PostgreSQL durability: fsync **{pgs.get('fsync', '?')}**, synchronous_commit "
          f"**{pgs.get('synchronous_commit', '?')}**, full_page_writes "
          f"**{pgs.get('full_page_writes', '?')}**, wal_sync_method {pgs.get('wal_sync_method', '?')}, "
          f"commit_delay {pgs.get('commit_delay', '?')}")
        w(f"- PostgreSQL memory and limits: shared_buffers {pgs.get('shared_buffers', '?')} "
          f"(`{meta.get('pg_shared_buffers', '?')}`), effective_cache_size "
          f"{pgs.get('effective_cache_size', '?')}, work_mem {pgs.get('work_mem', '?')}, "
          f"max_connections {pgs.get('max_connections', '?')}, wal_level {pgs.get('wal_level', '?')}, "
          f"max_wal_size {pgs.get('max_wal_size', '?')}, checkpoint_timeout "
          f"{pgs.get('checkpoint_timeout', '?')}; everything else at PostgreSQL's defaults")
        w(f"- Server pool: `DATABASE_POOL_SIZE={meta.get('pool_size', '?')}` (read connections; "
          "the server adds one writer connection), other `DATABASE_*` settings and `CACHE_TTL` "
          f"(300 s) at their defaults; server `RUST_LOG={meta.get('rust_log', '?')}`")
        rv = (read_text(os.path.join(args.out, "redis_version.txt")) or "?").split(" sha=")[0]
        ri = read_json(os.path.join(args.out, "redis_info.json")) or {}
        w(f"- Redis: {rv}, `--save '' --appendonly no` on 127.0.0.1 (`REDIS_URL`), "
          f"maxmemory {ri.get('maxmemory_human', '?')}; at the end of the run: "
          f"{ri.get('used_memory_human', '?')} used, keyspace hits "
          f"{ri.get('keyspace_hits', '?')}, misses {ri.get('keyspace_misses', '?')}, "
          f"{ri.get('db0', 'no keys')}")
        mt = read_json(os.path.join(args.out, "metrics_after_item_get.json")) or {}
        if mt.get("lines"):
            w("- Server cache metrics after the read scenarios (`item_get_cold`, the warm-up, "
              "`item_get` and the read rounds; cumulative since start, seeding included): "
              + ", ".join(f"`{ln}`" for ln in mt["lines"] if "cache" in ln))
    else:
        w(f"- SQLite sync mode: **{meta.get('sync', '?')}** (`INVENTORY_SQLITE_SYNC`); "
          f"fresh database in a temporary directory; server `RUST_LOG={meta.get('rust_log', '?')}`")
    w(f"- Load: wrk, {meta.get('threads', '?')} threads, {meta.get('connections', '?')} "
      f"connections, {meta.get('duration', '?')} s per scenario, `--latency --timeout 10s`, "
      "to 127.0.0.1 only")
    created = seed.get("items_created")
    created = f"{created:,}" if isinstance(created, int) else "?"
    requested = meta.get("items", "?")
    requested = f"{int(requested):,}" if requested.isdigit() else requested
    if postgres:
        w(f"- A second server (same binary and settings) on a second database of the same "
          f"cluster (`list_small`, Redis database 1), seeded with {meta.get('list_small', '?')} "
          "items over HTTP at the start and idle until the list rounds: the list at that size "
          "is measured on it")
    w(f"- Seed: {created} items (requested {requested}) created by {meta.get('workers', '?')} "
      f"concurrent clients in {seed.get('items_seconds', '?')} s "
      f"({seed.get('items_per_second', '?')}/s); {seed.get('stock_per_item', '?')} units "
      f"received on each ({seed.get('stock_mode', '?')} movements, "
      f"{seed.get('stock_seconds', '?')} s); database "
      f"{fmt_mb(meta.get('db_kb_after_seed'))} after seeding")
    if meta.get("loadavg_before_load"):
        w(f"- Load average (1, 5, 15 min) just before the scenarios: "
          f"{meta['loadavg_before_load']} (seeding accounts for part of it; other busy processes "
          "on the machine lower every figure)")
    if meta.get("run_seconds"):
        w(f"- Whole run after the build: {meta['run_seconds']} s")
    fs = read_json(os.path.join(args.out, "fsync.json"))
    if fs:
        where = ("the run's temporary directory (the cluster's filesystem)" if postgres
                 else "the database's directory")
        w(f"- Disk: 4 KiB write + fsync in {where}, {fs['samples']} samples: "
          f"p50 {fs['p50_ms']:.2f} ms, p99 {fs['p99_ms']:.2f} ms (the floor under one durable "
          "commit)")
    item_errors = {k: v for k, v in (seed.get("item_errors") or {}).items() if k != "first_body"}
    if item_errors:
        w(f"- Seeding errors: {item_errors}")
    w("")

    w("## Results")
    w("")
    w("| Scenario | Request | req/s | p50 ms | p99 ms | max ms | non-2xx | socket errors "
      "| RSS after |")
    w("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
    for name, req, _ in SCENARIOS:
        r = results.get(name)
        if not r:
            w(f"| {name} | `{req}` | not run | | | | | | |")
            continue
        lat = r.get("latency_us") or {}
        rss = fmt_mb(read_text(os.path.join(args.out, name + ".rss")))
        w(f"| {name} | `{req}` | {rate(r):,.0f} | {ms(lat.get('p50'))} | {ms(lat.get('p99'))} "
          f"| {ms(lat.get('max'))} | {r.get('non2xx', '?')} | {socket_errors(r)} | {rss} |")
    w("")
    w("RSS after: the server's VmRSS about a second after the scenario ended.")
    w("")
    w("Status codes seen: the movement scenarios count them in their `response()`; the read "
      "scenarios (health, item_get, item_list and the UI pages) install no `response()`, so "
      "that wrk hands no response to Lua (client CPU taken from the server on this 2-core "
      "machine), and report wrk's own counts of responses below 400 and at 400 or more "
      "(a redirect to the sign-in page would count as below 400: every page was fetched "
      "with the same cookie and checked to answer 200 HTML before the load, and the "
      "pages section shows the bytes per response):")
    w("")
    for name, _, what in SCENARIOS:
        r = results.get(name)
        if r:
            w(f"- `{name}` ({what}): {statuses(r)}")
    w("")
    hr = results.get("movements_hot")
    if hr:
        w(f"`movements_hot` req/s is over its {hr.get('active_s', 0):.1f} s sending window: "
          f"the scripts stop sending after {meta.get('duration', '?')} s and wrk runs "
          f"{meta.get('hot_tail', '?')} s longer so that no issue is left in flight.")
        w("")

    w("Exact wrk commands (`PORT` is the free port picked for the run; run.sh also sets "
      "`BENCH_TOKEN`, `BENCH_IDS` and `BENCH_HOT_ID` for the scripts):")
    w("")
    w("```")
    for name, _, _ in SCENARIOS:
        if cmds.get(name):
            w(cmds[name])
    extra = [f"{kind}_r{rnd}" for rnd in range(1, rounds_of(meta) + 1)
             for kind in ("health", "item_get")]
    extra += [name for name, _, _, _ in (list_scenarios(meta) if postgres else [])]
    if postgres:
        extra += [f"{name}_{meta.get('list_large', '')}_r{rnd}"
                  for rnd in range(1, rounds_of(meta) + 1)
                  for name in ["health"] + [n for n, _, _ in PAGES]]
    for name in extra:
        c = read_text(os.path.join(args.out, name + ".cmd"))
        if c:
            w(c)
    w("```")
    w("")

    read_rounds_rows = read_rounds(args.out, meta)
    if read_rounds_rows:
        w("## Cached reads against /health, in alternating rounds")
        w("")
        w(f"After `item_get`, `health` and `item_get` again, one after the other, "
          f"{len(read_rounds_rows)} times, {meta.get('round_seconds', '?')} s each (same wrk "
          "settings): the ratio of two runs taken seconds apart, rather than minutes.")
        w("")
        w("| Round | /health req/s | item_get req/s | item_get p99 ms | ratio |")
        w("| ---: | ---: | ---: | ---: | ---: |")
        for rnd, h, g, rr in read_rounds_rows:
            w(f"| {rnd} | {rate(h):,.0f} | {rate(g):,.0f} | {ms(g['latency_us'].get('p99'))} "
              f"| {rr * 100:.0f}% |")
        w("")

    rh_main = results.get("health")
    if any(results.get(name) for name, _, _ in PAGES):
        items_label = f"{int(meta['items']):,}" if meta.get("items", "").isdigit() else "?"
        w(f"## UI pages against /health ({items_label} items)")
        w("")
        w("The server-rendered pages as a signed-in browser asks for them (cookie "
          "`inventory_session`, the bench's session token; `Accept: text/html`), "
          f"{meta.get('duration', '?')} s each after `item_list`, same wrk settings. The "
          "ratio is the page's p99 over the p99 of `health` in the same run.")
        w("")
        w("| Scenario | Page | req/s | responses | p50 ms | p99 ms | max ms | p99 / health p99 "
          "| bytes per response | non-2xx | socket errors | busy after (s) |")
        w("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
        hp99 = p99_of(rh_main)
        if rh_main:
            lat = rh_main["latency_us"]
            w(f"| health | `/health` | {rate(rh_main):,.0f} | {rh_main.get('responses', 0):,} "
              f"| {ms(lat.get('p50'))} | {ms(lat.get('p99'))} | {ms(lat.get('max'))} | 1.00× "
              f"| {per_response(rh_main)} | {rh_main.get('non2xx', '?')} "
              f"| {socket_errors(rh_main)} | |")
        for name, label, path in PAGES:
            r = results.get(name)
            if not r:
                w(f"| {name} | `{path}` | not run | | | | | | | | | |")
                continue
            lat = r.get("latency_us") or {}
            ratio_txt = f"{lat['p99'] / hp99:.1f}×" if hp99 and lat.get("p99") else "-"
            w(f"| {name} | `{path}` | {rate(r):,.0f} | {r.get('responses', 0):,} "
              f"| {ms(lat.get('p50'))} | {ms(lat.get('p99'))} "
              f"| {ms(lat.get('max'))} | {ratio_txt} | {per_response(r)} | {r.get('non2xx', '?')} "
              f"| {socket_errors(r)} | {settle(args.out, name)} |")
        w("")
        w("Bytes per response: wrk's bytes read over responses, headers included (a redirect "
          "to /login would be a few hundred bytes). Busy after: seconds from the scenario's "
          "RSS sample (a second after wrk stopped) until the server used under 4% of a CPU "
          "over half a second (and, on PostgreSQL, no query was active): the work wrk left "
          "queued when it stopped. The next scenario starts only then.")
        w("")
        starved_note(w, starved([(n, results.get(n)) for n, _, _ in PAGES], meta), meta)

    lists = list_scenarios(meta) if postgres else []
    ratios = []
    list_worst = []
    if lists:
        lres = {name: read_json(os.path.join(args.out, name + ".json"))
                for name, _, _, _ in lists}
        small, large = int(meta["list_small"]), int(meta["list_large"])
        w("## List latency at scale")
        w("")
        w("`GET /api/v1/items?limit=50` (sort by sku, keyset paging) with the items table at "
          f"{small:,} rows (the second server's database) and at {large:,} rows (the main "
          "server's): the first page, and the page halfway through the table (`deep`: "
          "`bench/benchctl.py walk-pages` follows `next_cursor` with `limit=500` to the "
          "middle, then wrk requests that one cursor URL with `limit=50`). The two sizes are "
          f"measured in turn, {rounds_of(meta)} rounds of {meta.get('round_seconds', '?')} s "
          "per page and size, so that both see the same machine. Same wrk settings as above.")
        w("")
        walks = {size: read_json(os.path.join(args.out, f"list_{size}_walk.json")) or {}
                 for size in (small, large)}
        counts = {size: read_text(os.path.join(args.out, f"list_{size}_count.txt"))
                  for size in (small, large)}
        for size in (small, large):
            walk = walks[size]
            count = counts[size]
            label = f"{int(count):,}" if count and count.isdigit() else f"{size:,}"
            if walk:
                w(f"- {label} items: deep page after {walk.get('items_passed', '?'):,} items, "
                  f"sku > `{walk.get('last_sku_passed', '?')}`")
        w("")
        w("| Round | Page | Items | req/s | p50 ms | p99 ms | max ms | non-2xx | socket errors |")
        w("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        for name, size, which, rnd in lists:
            r = lres.get(name)
            if not r:
                w(f"| {rnd} | {which} | {size:,} | not run | | | | | |")
                continue
            lat = r.get("latency_us") or {}
            w(f"| {rnd} | {which} | {size:,} | {rate(r):,.0f} | {ms(lat.get('p50'))} | "
              f"{ms(lat.get('p99'))} | {ms(lat.get('max'))} | {r.get('non2xx', '?')} "
              f"| {socket_errors(r)} |")
        w("")
        w("Item counts are `SELECT count(*) FROM items` of each database.")
        w("")
        menv = read_env(os.path.join(args.out, "million.env")) \
            if os.path.exists(os.path.join(args.out, "million.env")) else {}
        if menv:
            w(f"How the {large:,} rows were made: the main server's items were "
              f"topped up with {int(menv.get('bulk_rows', 0)):,} rows by ONE `INSERT INTO items "
              "... SELECT ... FROM generate_series(...)` run through psql against the running "
              "server's database (the server kept running; it has no list cache). The rows "
              "look like those `create_item` writes (sku `BULK-0000001`..., lower-case "
              "`sku_folded`/`name_folded`, category `cat-NN`, unit `pcs`, `attributes` `'{}'`, "
              "version 1, one timestamp for created/updated) except that ids are "
              "`gen_random_uuid()` (v4, not v7) and no `events` or `stock` rows were written "
              f"for them. The insert took {menv.get('insert_seconds', '?')} s, then "
              "`VACUUM (ANALYZE) items` and `CHECKPOINT` "
              f"({menv.get('total_seconds', '?')} s in all); database "
              f"{fmt_mb(menv.get('db_kb'))} afterwards. The {small:,}-item database had "
              "`VACUUM (ANALYZE) items` too. Both were measured at the end of the run, after "
              "the movement scenarios.")
        else:
            w(f"The {large:,}-row step was not run (`--no-million`).")
        w("")
        for rnd in range(1, rounds_of(meta) + 1):
            worst = None
            for which in ("first", "deep"):
                a = lres.get(f"list_{small}_{which}_r{rnd}")
                b = lres.get(f"list_{large}_{which}_r{rnd}")
                if a and b:
                    for q in ("p50", "p99"):
                        la, lb = a["latency_us"].get(q), b["latency_us"].get(q)
                        if la and lb:
                            ratios.append((rnd, which, q, la, lb, lb / la))
                            worst = max(worst or 0, lb / la)
            if worst is not None:
                list_worst.append(worst)
        if ratios:
            w(f"| Round | Page | Percentile | {small // 1000}k ms | {large // 1000000}M ms "
              f"| {large // 1000000}M / {small // 1000}k |")
            w("| ---: | --- | --- | ---: | ---: | ---: |")
            for rnd, which, q, la, lb, ratio in ratios:
                w(f"| {rnd} | {which} | {q} | {ms(la)} | {ms(lb)} | {ratio:.2f}× |")
            w("")
            w("Worst ratio per round: " + ", ".join(f"{x:.2f}×" for x in list_worst)
              + f"; median {median(list_worst):.2f}×.")
            w("")

    prounds = page_rounds(args.out, meta) if postgres else []
    page_target = None  # (label, p99 ms, how)
    if prounds:
        large = int(meta["list_large"])
        count = read_text(os.path.join(args.out, f"list_{large}_count.txt"))
        w(f"## UI pages at {large:,} items")
        w("")
        w(f"With the items table at {int(count) if count and count.isdigit() else large:,} rows "
          "(after the list rounds above): `/health` and the three pages in turn, "
          f"{len(prounds)} rounds of {meta.get('round_seconds', '?')} s each, same wrk settings "
          "and cookie as above, so each page's p99 is set against that of `/health` measured "
          "seconds before. `page_item` draws from the seeded items (those with stock and a "
          "ledger); the bulk rows have neither.")
        w("")
        w("| Round | Scenario | req/s | responses | p50 ms | p99 ms | max ms | p99 / health p99 "
          "| bytes per response | non-2xx | socket errors | busy after (s) |")
        w("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
        per_page = {name: [] for name, _, _ in PAGES}
        skipped = {}
        round_results = []
        for rnd, h, got in prounds:
            hp = p99_of(h)
            if h:
                lat = h["latency_us"]
                w(f"| {rnd} | health | {rate(h):,.0f} | {h.get('responses', 0):,} "
                  f"| {ms(lat.get('p50'))} | {ms(lat.get('p99'))} "
                  f"| {ms(lat.get('max'))} | 1.00× | {per_response(h)} | {h.get('non2xx', '?')} "
                  f"| {socket_errors(h)} | |")
            for name, _, _ in PAGES:
                r = got.get(name)
                full = f"{name}_{large}_r{rnd}"
                if not r:
                    w(f"| {rnd} | {name} | not run | | | | | | | | | |")
                    continue
                round_results.append((full, r))
                lat = r["latency_us"]
                if r.get("responses") and not r.get("non2xx"):
                    per_page[name].append((lat.get("p50"), lat.get("p99"),
                                           lat["p99"] / hp if hp and lat.get("p99") else None))
                else:
                    skipped[name] = skipped.get(name, 0) + 1
                w(f"| {rnd} | {name} | {rate(r):,.0f} | {r.get('responses', 0):,} "
                  f"| {ms(lat.get('p50'))} | {ms(lat.get('p99'))} "
                  f"| {ms(lat.get('max'))} | "
                  + (f"{lat['p99'] / hp:.1f}×" if hp and lat.get("p99") else "-")
                  + f" | {per_response(r)} | {r.get('non2xx', '?')} | {socket_errors(r)} "
                  f"| {settle(args.out, full)} |")
        w("")
        starved_note(w, starved(round_results, meta), meta)
        w("Medians over the rounds in which the page answered, and answered only 2xx (a "
          "round with no response or with error responses is left out and counted):")
        w("")
        w("| Page | median p50 ms | median p99 ms | median p99 / health p99 | rounds left out |")
        w("| --- | ---: | ---: | ---: | ---: |")
        for name, label, path in PAGES:
            vals = per_page[name]
            if not vals:
                w(f"| {name} (`{path}`) | - | - | - | {skipped.get(name, 0)} |")
                continue
            m50 = median([v[0] for v in vals if v[0]])
            m99 = median([v[1] for v in vals if v[1]])
            mr = median([v[2] for v in vals if v[2]])
            w(f"| {name} (`{path}`) | {ms(m50)} | {ms(m99)} | "
              + (f"{mr:.1f}×" if mr else "-") + f" | {skipped.get(name, 0)} |")
            if name == "page_items" and m99:
                page_target = (f"{large:,} items", m99 / 1000,
                               f"median over {len(vals)} rounds of the p99")
        w("")
    elif results.get("page_items"):
        items_label = f"{int(meta['items']):,}" if meta.get("items", "").isdigit() else "?"
        page_target = (f"{items_label} items", results["page_items"]["latency_us"]["p99"] / 1000,
                       f"`page_items` p99 over {meta.get('duration', '?')} s")

    page_weight_section(
        w, read_json(os.path.join(args.out, "page_weight.json")),
        "## Page weight",
        "What each main page sends, measured with `bench/benchctl.py page-weight` right after "
        "seeding (before the load), with the bench's session cookie, `Accept: text/html` and "
        "`Accept-Encoding: gzip`; `/items/{id}` is the first seeded item (one receipt in its "
        "ledger).")
    if postgres:
        pw_large = read_json(os.path.join(args.out, f"page_weight_{meta.get('list_large', '')}.json"))
        if pw_large:
            page_weight_section(
                w, pw_large, f"## Page weight at {int(meta['list_large']):,} items",
                "The same measurement after the table grew (before the page rounds); by then "
                "the movement scenarios had run, so the item's and the movements' pages list "
                "more ledger rows.")

    w("## Hot item: no oversell")
    w("")
    if hot:
        w(f"- on_hand before: {hot.get('on_hand_before')}, after: {hot.get('on_hand_after')}, "
          f"drop: {hot.get('on_hand_drop')}")
        w(f"- 201 responses: {hot.get('responses_201')}; other responses: "
          f"{hot.get('responses_other') or 'none'}; requests left unanswered: "
          f"{hot.get('unanswered')}")
        w(f"- Verdict: **{hot.get('verdict')}**")
    else:
        w("- not checked (no hot_check.json)")
    w("")

    orders = orders_section(args.out, meta, m, postgres)
    if orders:
        L.extend(orders)
        w("")
    w("## Memory (server VmRSS from /proc/PID/status)")
    w("")
    w(f"- Idle after start, empty database: {fmt_mb(meta.get('rss_start_kb'))}")
    w(f"- Idle after seeding, before load: {fmt_mb(meta.get('rss_seeded_kb'))}")
    w(f"- Idle after all scenarios: {fmt_mb(meta.get('rss_after_kb'))}")
    w(f"- Peak (VmHWM): {fmt_mb(meta.get('rss_peak_kb'))}")
    w(f"- Server log lines with WARN or ERROR: {warn_lines}")
    pg_errors = read_text(os.path.join(args.out, "postgres_log_errors.txt"))
    if postgres and pg_errors is not None:
        w(f"- PostgreSQL log lines with ERROR, FATAL or PANIC: {pg_errors}")
    w("")

    w("## Against the targets")
    w("")
    rh, rg, rs = results.get("health"), results.get("item_get"), results.get("movements_spread")
    ratio = (rate(rg) / rate(rh)) if rh and rg and rate(rh) else None
    if postgres:
        w("The targets for PostgreSQL with Redis (they are targets for the bench, not "
          "assertions):")
        w("")
        w("| Target | Measured | |")
        w("| --- | --- | --- |")
        read_row = read_target_row("cached item reads ≥ 50% of the /health rate",
                                   read_rounds_rows, ratio, rh, rg, meta)
        if read_row:
            w(read_row)
        if rs:
            w(f"| durable movements ≥ 3,000/s over items | {rate(rs):,.0f}/s, "
              f"{rs.get('non2xx', '?')} non-2xx | "
              f"{verdict(rate(rs) >= 3000 and rs.get('non2xx', 1) == 0)} |")
        if list_worst:
            med = median(list_worst)
            w(f"| list latency at 1,000,000 items ≤ {LIST_RATIO_TARGET}× that at 10,000 "
              f"| median over {len(list_worst)} rounds of the worst of first/deep × p50/p99: "
              f"{med:.2f}× (per round: " + ", ".join(f"{x:.2f}×" for x in list_worst)
              + f") | {verdict(med <= LIST_RATIO_TARGET)} |")
        else:
            w("| list latency at 1,000,000 items ≤ 1.5× that at 10,000 | not measured | - |")
        if page_target:
            w(page_target_row(page_target))
        w(f"| pool size and settings reported | `DATABASE_POOL_SIZE={meta.get('pool_size')}`, "
          "see Run | reported |")
        w("")
        mt = read_json(os.path.join(args.out, "metrics_after_item_get.json")) or {}
        hits = 0
        for ln in mt.get("lines") or []:
            if ln.startswith("inventory_cache_hits_total"):
                try:
                    hits += int(float(ln.split()[-1]))
                except ValueError:
                    pass
        warm = read_json(os.path.join(args.out, "warm.json")) or {}
        reads = sum((results.get(n) or {}).get("responses", 0) for n in ("item_get_cold", "item_get"))
        reads += sum(g.get("responses", 0) for _, _, g, _ in read_rounds_rows)
        reads += warm.get("items", 0) if isinstance(warm.get("items"), int) else 0
        if reads and mt.get("lines"):
            w(f"Cache share: before `item_get`, every one of the {warm.get('items', '?'):,} "
              f"seeded items was read once ({warm.get('seconds', '?')} s); by the end of the "
              f"read rounds the server counted {hits:,} cache hits (local + Redis) over "
              f"{reads:,} item reads (`item_get_cold`, the warm-up, `item_get` and the rounds).")
            w("")
        if hr:
            w(f"Also measured: movements on one hot item {rate(hr):,.0f}/s, "
              f"{'no oversell' if hot.get('ok') else 'oversell check FAILED'}; idle RSS "
              f"{fmt_mb(meta.get('rss_start_kb'))} after start, "
              f"{fmt_mb(meta.get('rss_after_kb'))} after load.")
            w("")
        w(f"Load average just before the scenarios was {meta.get('loadavg_before_load', '?')} "
          f"on {m['nproc']} CPUs: PostgreSQL, Redis, the server and wrk share them (and any "
          "other busy process on the machine does too), so these figures are a floor for "
          "this hardware, not a ceiling.")
        w("")
        if str(m["nproc"]) != "2" or meta.get("connections") != "64":
            w(f"Measured with {meta.get('connections')} connections on {m['nproc']} CPUs; the "
              "SQLite targets assume 64 connections on 2 cores, so compare with care.")
            w("")
        return finish(L, args.output)
    w(f"Ratio item read / health: **{ratio:.2f}**" if ratio is not None
      else "Ratio item read / health: -")
    w("")
    w("| Target | Measured | |")
    w("| --- | --- | --- |")
    read_row = read_target_row("item read ≥ 50% of /health rate", read_rounds_rows, ratio,
                               rh, rg, meta)
    if read_row:
        w(read_row)
    if rg:
        p99 = rg["latency_us"]["p99"] / 1000
        w(f"| item read p99 ≤ 5 ms | {p99:.2f} ms (`item_get`) | {verdict(p99 <= 5)} |")
    if rs:
        w(f"| movements over many items ≥ 3,000/s | {rate(rs):,.0f}/s "
          f"| {verdict(rate(rs) >= 3000 and rs.get('non2xx', 1) == 0)} |")
    if hr:
        ok = rate(hr) >= 1000 and bool(hot.get("ok"))
        w(f"| movements on one hot item ≥ 1,000/s, no oversell | {rate(hr):,.0f}/s, "
          f"{'no oversell' if hot.get('ok') else 'check failed'} | {verdict(ok)} |")
    if page_target:
        w(page_target_row(page_target))
    for key, when, target in (("rss_start_kb", "after start", TARGETS_MB),
                              ("rss_seeded_kb", "after seeding", TARGETS_MB),
                              ("rss_after_kb", "after load, cache full", TARGET_AFTER_LOAD_MB)):
        v = mb(meta.get(key))
        if v is not None:
            w(f"| idle RSS ≤ {target} MB ({when}) | {v:.1f} MB "
              f"| {verdict(v <= target)} |")
    w("")
    if str(m["nproc"]) != "2" or meta.get("connections") != "64" or meta.get("sync") != "full":
        w(f"The targets are set for 64 connections on a 2-core machine with sync full; this run "
          f"used {meta.get('connections')} connections on {m['nproc']} CPUs with sync "
          f"{meta.get('sync')}, so the comparison is indicative only.")
        w("")

    finish(L, args.output)


def page_target_row(target):
    where, p99_ms, how = target
    return (f"| items page (`GET /items`) well under {PAGE_BUDGET_MS / 1000:.0f} s in the browser: "
            f"server p99 ≤ {PAGE_SERVER_SHARE_MS} ms at 64 connections | {p99_ms:.1f} ms at "
            f"{where} ({how}), {p99_ms / PAGE_BUDGET_MS * 100:.0f}% of the second "
            f"| {verdict(p99_ms <= PAGE_SERVER_SHARE_MS)} |")


def finish(lines, output):
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text).rstrip() + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
