#!/usr/bin/env python3
"""Small HTTP helpers for bench/run.sh (python3 standard library only).

Subcommands:
  free-port                      print a free TCP port on 127.0.0.1
  wait-ready URL --pid P --timeout S
                                 poll URL/ready until 200 (fails if P exits)
  login URL --password-env VAR   print an access token for user admin
  seed URL --token-env VAR --items N --out DIR ...
                                 create N items concurrently, receive stock
                                 on every one (batch endpoint, falling back
                                 to single movements) and create the hot
                                 item; writes DIR/ids.txt, DIR/hot_id.txt,
                                 DIR/seed.json
  stock URL --token-env VAR --item ID
                                 print GET /api/v1/items/ID/stock as JSON
  fsync-probe DIR                time 4 KiB write+fsync in DIR (bounded)
  walk-pages URL --token-env VAR --depth N
                                 follow item-list cursors past N items and
                                 print the cursor found there (bounded)
  redis-info HOST PORT           a few Redis INFO fields as JSON
  metrics URL                    the server's inventory_cache_* metrics
  page-weight URL --token-env VAR --ids F
                                 fetch the main UI pages with the session
                                 cookie: HTML bytes (as sent, and gzipped),
                                 the CSS/JS they link, unloaded time per page;
                                 fails unless every page answers 200 HTML
  check-hot --before F --after F --result F --out F
                                 compare the hot item's drop in on_hand
                                 with the 201s counted by wrk (never fails
                                 the run: it records a verdict)

Every call has a socket timeout and every loop a deadline, so nothing here
can hang a benchmark run. Secrets are passed by environment variable name,
never on the command line.
"""

import argparse
import gzip
import html.parser
import http.client
import json
import multiprocessing
import os
import random
import re
import signal
import socket
import sys
import time
import urllib.parse

SOCKET_TIMEOUT = 30.0


class Client:
    """One keep-alive HTTP/1.1 connection to the server."""

    def __init__(self, base_url, token=None):
        u = urllib.parse.urlsplit(base_url)
        if u.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit(f"refusing to load a non-loopback host: {u.hostname}")
        self.host, self.port = u.hostname, u.port or 80
        self.token = token
        self.conn = None

    def _connect(self):
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=SOCKET_TIMEOUT)

    def request(self, method, path, body=None, retries=2):
        """Returns (status, parsed JSON or None, raw bytes).

        Retries only on connection-level failures; callers must be careful
        with non-idempotent requests (the seeder treats a retried create
        that answers 409 as "probably created").
        """
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        last = None
        for attempt in range(retries + 1):
            try:
                if self.conn is None:
                    self._connect()
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    self.close()
                try:
                    parsed = json.loads(raw) if raw else None
                except ValueError:
                    parsed = None
                return resp.status, parsed, raw
            except (OSError, http.client.HTTPException) as e:
                last = e
                self.close()
                time.sleep(0.05 * (attempt + 1))
        raise ConnectionError(f"{method} {path}: {last}")

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass
            self.conn = None


def free_port(_args):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child still "exists"; look at /proc
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("State:"):
                    return "Z" not in line.split()[1]
    except OSError:
        return False
    return True


def wait_ready(args):
    deadline = time.monotonic() + args.timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if args.pid and not pid_alive(args.pid):
            print(f"server (pid {args.pid}) exited before it was ready", file=sys.stderr)
            sys.exit(1)
        c = Client(args.url)
        try:
            status, _, raw = c.request("GET", "/ready", retries=0)
            if status == 200:
                print(f"ready after {args.timeout - (deadline - time.monotonic()):.1f}s",
                      file=sys.stderr)
                return
            last = f"HTTP {status}: {raw[:200]!r}"
        except ConnectionError as e:
            last = str(e)
        finally:
            c.close()
        time.sleep(0.1)
    print(f"server not ready after {args.timeout}s: {last}", file=sys.stderr)
    sys.exit(1)


def env_secret(name):
    value = os.environ.get(name, "")
    if not value:
        raise SystemExit(f"environment variable {name} is empty")
    return value


def login(args):
    c = Client(args.url)
    status, body, raw = c.request(
        "POST", "/api/v1/auth/login",
        {"username": args.username, "password": env_secret(args.password_env)})
    c.close()
    if status != 200 or not isinstance(body, dict) or "access_token" not in body:
        raise SystemExit(f"login failed: HTTP {status}: {raw[:300]!r}")
    print(body["access_token"])


def stock(args):
    c = Client(args.url, env_secret(args.token_env))
    status, body, raw = c.request("GET", f"/api/v1/items/{args.item}/stock")
    c.close()
    if status != 200 or not isinstance(body, dict):
        raise SystemExit(f"stock read failed: HTTP {status}: {raw[:300]!r}")
    print(json.dumps(body))


# ------------------------------------------------------------------ seeding
# Workers are processes (not threads) so the GIL does not cap the rate.

_W = {}


def _worker_init(url, token):
    # Ctrl-C is handled by the parent, which terminates the pool; a worker
    # dying of KeyboardInterrupt would only be replaced by a new one.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _W["client"] = Client(url, token)


class ServerGone(Exception):
    pass


def _connection_failed():
    """Counts consecutive connection failures; gives up when the server is gone."""
    _W["failures"] = _W.get("failures", 0) + 1
    if _W["failures"] >= 5:
        raise ServerGone("5 connection failures in a row: is the server still running?")


def _create_items(chunk):
    """Creates items for indices in chunk; returns (created, errors)."""
    c = _W["client"]
    created, errors = [], {}
    for i in chunk:
        body = {
            "sku": f"BENCH-{i:06d}",
            "name": f"Bench item {i}",
            "category": f"cat-{i % 50:02d}",
            "reorder_point": 10,
            "unit_cost": f"{1 + i % 997}.{i % 100:02d}",
        }
        try:
            status, resp, raw = c.request("POST", "/api/v1/items", body)
        except ConnectionError:
            errors["connection"] = errors.get("connection", 0) + 1
            _connection_failed()
            continue
        _W["failures"] = 0
        if status == 201 and isinstance(resp, dict) and resp.get("id"):
            created.append((i, resp["id"]))
        else:
            errors[str(status)] = errors.get(str(status), 0) + 1
            errors.setdefault("first_body", raw[:300].decode("utf-8", "replace"))
    return created, errors


def _receive_batch(movements):
    """Receives stock via the batch endpoint; returns (ok_count, status)."""
    c = _W["client"]
    try:
        status, _, raw = c.request("POST", "/api/v1/movements/batch",
                                   {"movements": movements}, retries=0)
    except ConnectionError as e:
        _connection_failed()
        return 0, f"connection: {e}"
    _W["failures"] = 0
    if status == 201:
        return len(movements), 201
    return 0, f"{status}: {raw[:200].decode('utf-8', 'replace')}"


def _receive_single(movements):
    c = _W["client"]
    ok, errors = 0, {}
    for m in movements:
        try:
            status, _, _ = c.request("POST", "/api/v1/movements", m, retries=0)
        except ConnectionError:
            status = "connection"
            _connection_failed()
        else:
            _W["failures"] = 0
        if status == 201:
            ok += 1
        else:
            errors[str(status)] = errors.get(str(status), 0) + 1
    return ok, errors


def _read_items(ids):
    """GETs each item once; returns {status: count}."""
    c = _W["client"]
    seen = {}
    for item_id in ids:
        try:
            status, _, _ = c.request("GET", f"/api/v1/items/{item_id}")
        except ConnectionError:
            status = "connection"
            _connection_failed()
        else:
            _W["failures"] = 0
        seen[str(status)] = seen.get(str(status), 0) + 1
    return seen


def warm(args):
    """Reads every id once, so that the next pass finds each one cached."""
    token = env_secret(args.token_env)
    with open(args.ids) as f:
        ids = [line.strip() for line in f if line.strip()]
    deadline = time.monotonic() + args.timeout
    ctx = multiprocessing.get_context("fork")
    t0 = time.monotonic()
    statuses = {}
    with ctx.Pool(args.workers, initializer=_worker_init, initargs=(args.url, token)) as pool:
        chunks = [ids[i:i + 500] for i in range(0, len(ids), 500)]
        res = pool.imap_unordered(_read_items, chunks)
        for _ in chunks:
            _merge(statuses, res.next(timeout=max(1.0, deadline - time.monotonic())))
    took = time.monotonic() - t0
    print(f"warm: read {len(ids)} items in {took:.1f}s, statuses {statuses}", file=sys.stderr)
    json.dump({"items": len(ids), "seconds": round(took, 3), "statuses": statuses}, sys.stdout)
    if statuses.get("200", 0) != len(ids):
        raise SystemExit(f"warm: not every item read back 200: {statuses}")


def _merge(into, more):
    for k, v in more.items():
        if k == "first_body":
            into.setdefault(k, v)
        else:
            into[k] = into.get(k, 0) + v


def seed(args):
    token = env_secret(args.token_env)
    os.makedirs(args.out, exist_ok=True)
    deadline = time.monotonic() + args.timeout
    report = {"items_requested": args.items - args.start + 1, "first_index": args.start,
              "workers": args.workers}

    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(args.workers, initializer=_worker_init, initargs=(args.url, token)) as pool:
        # 1. items: small chunks so workers stay busy to the end
        chunk = 250
        chunks = [range(s, min(s + chunk, args.items + 1))
                  for s in range(args.start, args.items + 1, chunk)]
        t0 = time.monotonic()
        ids, errors = {}, {}
        res = pool.imap_unordered(_create_items, chunks)
        for _ in chunks:
            created, errs = res.next(timeout=max(1.0, deadline - time.monotonic()))
            ids.update(created)
            _merge(errors, errs)
        t_items = time.monotonic() - t0
        report.update(items_created=len(ids), item_errors=errors,
                      items_seconds=round(t_items, 3),
                      items_per_second=round(len(ids) / t_items, 1) if t_items else None)
        print(f"seed: {len(ids)} items in {t_items:.1f}s "
              f"({report['items_per_second']}/s), errors: {errors or 'none'}", file=sys.stderr)
        if not ids:
            raise SystemExit("seed: no item was created")

        ordered = [ids[i] for i in sorted(ids)]
        with open(os.path.join(args.out, "ids.txt"), "w") as f:
            f.write("\n".join(ordered) + "\n")

        # 2. stock on every item: batch endpoint (all-or-none, 1000 a call)
        moves = [{"item_id": i, "kind": "receive", "quantity": args.stock}
                 for i in ordered]
        batches = [moves[s:s + args.batch] for s in range(0, len(moves), args.batch)]
        t0 = time.monotonic()
        received, batch_fail = 0, []
        res = pool.imap_unordered(_receive_batch, batches)
        for _ in batches:
            ok, status = res.next(timeout=max(1.0, deadline - time.monotonic()))
            received += ok
            if status != 201:
                batch_fail.append(status)
        mode = "batch"
        if batch_fail and received == 0:
            # batch endpoint unusable: fall back to one movement a request
            print(f"seed: batch endpoint failed ({batch_fail[0]}); "
                  "falling back to single movements", file=sys.stderr)
            mode = "single"
            singles = [moves[s:s + 250] for s in range(0, len(moves), 250)]
            stock_errors = {}
            res = pool.imap_unordered(_receive_single, singles)
            for _ in singles:
                ok, errs = res.next(timeout=max(1.0, deadline - time.monotonic()))
                received += ok
                _merge(stock_errors, errs)
            report["stock_errors"] = stock_errors
        t_stock = time.monotonic() - t0
        report.update(stock_mode=mode, stock_per_item=args.stock,
                      stock_received_items=received,
                      stock_batch_failures=len(batch_fail),
                      stock_batch_first_failure=batch_fail[0] if batch_fail else None,
                      stock_seconds=round(t_stock, 3))
        print(f"seed: stock received on {received} items in {t_stock:.1f}s ({mode})",
              file=sys.stderr)

    # 3. the hot item
    if args.no_hot:
        with open(os.path.join(args.out, "seed.json"), "w") as f:
            json.dump(report, f, indent=2)
        return
    c = Client(args.url, token)
    status, body, raw = c.request("POST", "/api/v1/items",
                                  {"sku": "BENCH-HOT", "name": "Bench hot item",
                                   "reorder_point": 0, "unit_cost": "1.00"})
    if status != 201 or not isinstance(body, dict):
        raise SystemExit(f"seed: hot item create failed: HTTP {status}: {raw[:300]!r}")
    hot = body["id"]
    status, _, raw = c.request("POST", "/api/v1/movements",
                               {"item_id": hot, "kind": "receive", "quantity": args.hot_stock},
                               retries=0)
    c.close()
    if status != 201:
        raise SystemExit(f"seed: hot item receive failed: HTTP {status}: {raw[:300]!r}")
    with open(os.path.join(args.out, "hot_id.txt"), "w") as f:
        f.write(hot + "\n")
    report.update(hot_item=hot, hot_stock=args.hot_stock)
    with open(os.path.join(args.out, "seed.json"), "w") as f:
        json.dump(report, f, indent=2)


def walk_pages(args):
    """Follows next_cursor through GET /api/v1/items (limit STEP) until DEPTH
    items have been passed; prints JSON with the cursor of the page that
    starts there (cursors carry the sort key only, not the limit, so it is
    valid for any limit)."""
    c = Client(args.url, env_secret(args.token_env))
    deadline = time.monotonic() + args.timeout
    cursor, passed, pages, last_sku = None, 0, 0, None
    t0 = time.monotonic()
    while passed < args.depth:
        if time.monotonic() > deadline:
            c.close()
            raise SystemExit(f"walk-pages: deadline passed after {passed} items")
        limit = min(args.step, args.depth - passed)
        path = f"/api/v1/items?limit={limit}"
        if cursor:
            path += "&cursor=" + urllib.parse.quote(cursor, safe="")
        status, body, raw = c.request("GET", path)
        if status != 200 or not isinstance(body, dict):
            c.close()
            raise SystemExit(f"walk-pages: HTTP {status}: {raw[:300]!r}")
        items = body.get("items") or []
        passed += len(items)
        pages += 1
        if items:
            last_sku = items[-1].get("sku")
        cursor = body.get("next_cursor")
        if not cursor:
            break
    c.close()
    out = {"depth_requested": args.depth, "items_passed": passed, "pages": pages,
           "step": args.step, "seconds": round(time.monotonic() - t0, 3),
           "last_sku_passed": last_sku, "cursor": cursor}
    if not cursor:
        raise SystemExit(f"walk-pages: the list ended after {passed} items: {out}")
    print(json.dumps(out))


def redis_info(args):
    """Prints a few fields of Redis INFO as JSON (loopback only)."""
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"refusing a non-loopback host: {args.host}")
    with socket.create_connection((args.host, args.port), timeout=5) as s:
        s.sendall(b"INFO\r\n")
        s.settimeout(5)
        data = b""
        while True:
            part = s.recv(65536)
            if not part:
                break
            data += part
            head, _, rest = data.partition(b"\r\n")
            if head.startswith(b"$") and len(rest) >= int(head[1:]):
                break
    fields = {}
    for line in data.decode("utf-8", "replace").splitlines():
        if ":" in line and not line.startswith("$"):
            k, v = line.split(":", 1)
            fields[k] = v
    keep = ("redis_version", "used_memory_human", "maxmemory_human", "maxmemory_policy",
            "keyspace_hits", "keyspace_misses", "total_commands_processed",
            "connected_clients", "rdb_changes_since_last_save", "aof_enabled", "db0")
    print(json.dumps({k: fields[k] for k in keep if k in fields}))


def metrics(args):
    """Prints the server's inventory_cache_* metric lines as JSON."""
    c = Client(args.url, os.environ.get(args.token_env or "", "") or None)
    status, _, raw = c.request("GET", "/metrics")
    c.close()
    if status != 200:
        print(json.dumps({"error": f"HTTP {status}"}))
        return
    lines = [ln for ln in raw.decode("utf-8", "replace").splitlines()
             if ln.startswith(("inventory_cache_", "inventory_active_connections"))]
    print(json.dumps({"lines": lines}))


# The main UI pages measured by page-weight: (label, path); {id} is the
# first seeded item.
PAGES = [
    ("dashboard", "/"),
    ("items", "/items"),
    ("item", "/items/{id}"),
    ("movements", "/movements"),
    ("new movement", "/movements/new"),
    ("stock count", "/counts"),
]


class _Subresources(html.parser.HTMLParser):
    """Collects what a page makes the browser fetch: stylesheets, scripts,
    images and icons (in document order, each once)."""

    def __init__(self):
        super().__init__()
        self.found = []

    def _add(self, kind, url):
        if url and (kind, url) not in self.found:
            self.found.append((kind, url))

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        rel = (a.get("rel") or "").lower().split()
        if tag == "link" and "stylesheet" in rel:
            self._add("css", a.get("href"))
        elif tag == "link" and ("icon" in rel or "preload" in rel or "modulepreload" in rel):
            self._add("link", a.get("href"))
        elif tag == "script" and a.get("src"):
            self._add("js", a.get("src"))
        elif tag in ("img", "iframe") and a.get("src"):
            self._add(tag, a.get("src"))


def _get_raw(conn, path, headers):
    """GET on a keep-alive connection; returns (response, body as sent,
    seconds to the last byte)."""
    t0 = time.perf_counter()
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    body = resp.read()
    return resp, body, time.perf_counter() - t0


def _decoded(body, encoding):
    enc = (encoding or "").lower()
    if enc in ("", "identity"):
        return body
    if enc == "gzip":
        return gzip.decompress(body)
    raise SystemExit(f"page-weight: cannot decode Content-Encoding {encoding}")


def page_weight(args):
    """Fetches each main UI page as a signed-in browser does (session cookie,
    Accept: text/html, Accept-Encoding: gzip) and the CSS/JS it links.
    Reports the HTML as sent and decoded, what gzip -6 would make of it, the
    assets' sizes and caching, "first load" (HTML + every linked asset) and
    "cached" (HTML only: the assets have content-hashed names cached for a
    year), and the time of SAMPLES sequential requests per page on an idle
    server. Fails unless every page answers 200 text/html."""
    token = env_secret(args.token_env)
    u = urllib.parse.urlsplit(args.url)
    if u.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"refusing to load a non-loopback host: {u.hostname}")
    with open(args.ids) as f:
        item_id = next((line.strip() for line in f if line.strip()), None)
    if not item_id:
        raise SystemExit("page-weight: no item id in " + args.ids)
    deadline = time.monotonic() + args.timeout
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=SOCKET_TIMEOUT)
    page_headers = {"Cookie": f"inventory_session={token}", "Accept": "text/html",
                    "Accept-Encoding": "gzip"}
    asset_headers = {"Accept": "*/*", "Accept-Encoding": "gzip"}
    assets, pages = {}, []
    for label, pattern in PAGES:
        path = pattern.replace("{id}", item_id)
        resp, body, first_s = _get_raw(conn, path, page_headers)
        ctype = resp.getheader("Content-Type", "")
        if resp.status != 200 or not ctype.startswith("text/html"):
            raise SystemExit(f"page-weight: GET {path} answered {resp.status} {ctype!r} "
                             f"(Location {resp.getheader('Location')!r}): not a page; "
                             "is the session cookie accepted?")
        encoding = resp.getheader("Content-Encoding")
        html_text = _decoded(body, encoding)
        parser = _Subresources()
        parser.feed(html_text.decode("utf-8", "replace"))
        linked = []
        for kind, url in parser.found:
            linked.append(url)
            if url in assets:
                continue
            au = urllib.parse.urlsplit(url)
            if au.scheme or au.netloc:
                assets[url] = {"kind": kind, "external": True}
                continue
            aresp, abody, _ = _get_raw(conn, url, asset_headers)
            araw = _decoded(abody, aresp.getheader("Content-Encoding"))
            assets[url] = {
                "kind": kind, "status": aresp.status,
                "content_type": aresp.getheader("Content-Type"),
                "content_encoding": aresp.getheader("Content-Encoding"),
                "cache_control": aresp.getheader("Cache-Control"),
                "wire_bytes": len(abody), "bytes": len(araw),
                "gzip_bytes": len(gzip.compress(araw, 6)),
            }
        times = []
        for _ in range(args.samples):
            if time.monotonic() > deadline:
                break
            r2, _, took = _get_raw(conn, path, page_headers)
            if r2.status != 200:
                raise SystemExit(f"page-weight: GET {path} answered {r2.status} on a repeat")
            times.append(took * 1000)
        times.sort()
        own = [assets[url] for url in linked if not assets[url].get("external")]
        pages.append({
            "label": label, "path": pattern, "status": resp.status, "content_type": ctype,
            "content_encoding": encoding, "cache_control": resp.getheader("Cache-Control"),
            "wire_bytes": len(body), "html_bytes": len(html_text),
            "gzip_bytes": len(gzip.compress(html_text, 6)),
            "assets": linked,
            "first_load_wire_bytes": len(body) + sum(a["wire_bytes"] for a in own),
            "first_load_gzip_bytes": len(gzip.compress(html_text, 6))
            + sum(a["gzip_bytes"] for a in own),
            "cached_wire_bytes": len(body),
            "first_ms": round(first_s * 1000, 3),
            "samples": len(times),
            "p50_ms": round(times[len(times) // 2], 3) if times else None,
            "max_ms": round(times[-1], 3) if times else None,
        })
    conn.close()
    compressed = any(p["content_encoding"] for p in pages) or any(
        a.get("content_encoding") for a in assets.values())
    print(json.dumps({"item_id": item_id, "compressed_by_server": compressed,
                      "samples": args.samples, "pages": pages, "assets": assets}, indent=2))


def check_hot(args):
    """Compares the drop in on_hand with the number of 201 responses."""
    with open(args.before) as f:
        before = json.load(f)
    with open(args.after) as f:
        after = json.load(f)
    with open(args.result) as f:
        result = json.load(f)
    status = result.get("status", {})
    created = int(status.get("201", 0))
    unanswered = int(result.get("unanswered", 0))
    drop = int(before["on_hand"]) - int(after["on_hand"])
    locs = after.get("locations") or []
    loc_sum = None
    if locs and all(isinstance(loc, dict) and "on_hand" in loc for loc in locs):
        loc_sum = sum(int(loc["on_hand"]) for loc in locs)
    check = {
        "on_hand_before": before["on_hand"],
        "on_hand_after": after["on_hand"],
        "on_hand_drop": drop,
        "responses_201": created,
        "responses_other": {k: v for k, v in status.items() if k != "201"},
        "unanswered": unanswered,
        "difference": drop - created,
        "locations_sum_after": loc_sum,
    }
    if unanswered == 0:
        ok = drop == created
        check["verdict"] = ("ok: on_hand dropped by exactly the number of 201s" if ok else
                            f"MISMATCH: on_hand dropped by {drop}, {created} issues answered 201")
    else:
        ok = created <= drop <= created + unanswered
        check["verdict"] = (f"{'ok' if ok else 'MISMATCH'} (inexact: {unanswered} requests "
                            f"unanswered): drop {drop}, 201s {created}")
    if after["on_hand"] < 0:
        ok = False
        check["verdict"] = "OVERSOLD: on_hand is negative; " + check["verdict"]
    if check["locations_sum_after"] is not None and check["locations_sum_after"] != after["on_hand"]:
        check["verdict"] += f"; per-location on_hand sums to {loc_sum}, not {after['on_hand']}"
        ok = False
    check["ok"] = ok
    with open(args.out, "w") as f:
        json.dump(check, f, indent=2)
    print(f"hot item: {check['verdict']}", file=sys.stderr)


def fsync_probe(args):
    """Times write+fsync of 4 KiB in DIR: the floor under a durable commit."""
    path = os.path.join(args.dir, "fsync-probe.tmp")
    block = os.urandom(4096)
    samples = []
    deadline = time.monotonic() + args.timeout
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for i in range(args.count):
            if time.monotonic() > deadline:
                break
            t0 = time.perf_counter()
            os.pwrite(fd, block, (i % 16) * 4096)
            os.fsync(fd)
            samples.append((time.perf_counter() - t0) * 1000)
    finally:
        os.close(fd)
        os.unlink(path)
    samples.sort()

    def pick(q):
        return samples[min(len(samples) - 1, int(q * len(samples)))]

    out = {"samples": len(samples), "p50_ms": round(pick(0.5), 3),
           "p99_ms": round(pick(0.99), 3), "max_ms": round(samples[-1], 3)}
    print(json.dumps(out))


# ------------------------------------------------------------------ orders
# Sales-order scenarios (issue 12): the hot item's draft orders, the checks
# after the confirm race, the ledger fill and the timed invariants check.

def _create_orders(n):
    """Creates n draft orders of 1 unit of _W['item']; returns (ids, errors)."""
    c = _W["client"]
    made, errors = [], {}
    body = {"reference": "bench-hot", "lines": [
        {"item_id": _W["item"], "quantity": 1, "unit_price": "1.00"}]}
    for _ in range(n):
        try:
            status, resp, raw = c.request("POST", "/api/v1/sales-orders", body, retries=0)
        except ConnectionError:
            errors["connection"] = errors.get("connection", 0) + 1
            _connection_failed()
            continue
        _W["failures"] = 0
        if status == 201 and isinstance(resp, dict) and resp.get("id"):
            made.append(resp["id"])
        else:
            errors[str(status)] = errors.get(str(status), 0) + 1
            errors.setdefault("first_body", raw[:300].decode("utf-8", "replace"))
    return made, errors


def _orders_worker_init(url, token, item):
    _worker_init(url, token)
    _W["item"] = item


def make_orders(args):
    """Creates an item, receives STOCK units on it, then COUNT draft orders
    of 1 unit each (no hold: a draft reserves nothing); writes their ids,
    shuffled, to OUT and prints JSON."""
    token = env_secret(args.token_env)
    c = Client(args.url, token)
    status, body, raw = c.request("POST", "/api/v1/items",
                                  {"sku": args.sku, "name": "Bench hot item (orders)",
                                   "reorder_point": 0, "unit_cost": "1.00"})
    if status != 201 or not isinstance(body, dict):
        raise SystemExit(f"make-orders: item create failed: HTTP {status}: {raw[:300]!r}")
    item = body["id"]
    status, _, raw = c.request("POST", "/api/v1/movements",
                               {"item_id": item, "kind": "receive", "quantity": args.stock},
                               retries=0)
    c.close()
    if status != 201:
        raise SystemExit(f"make-orders: receive failed: HTTP {status}: {raw[:300]!r}")
    deadline = time.monotonic() + args.timeout
    ctx = multiprocessing.get_context("fork")
    t0 = time.monotonic()
    ids, errors = [], {}
    with ctx.Pool(args.workers, initializer=_orders_worker_init,
                  initargs=(args.url, token, item)) as pool:
        chunks = [min(250, args.count - s) for s in range(0, args.count, 250)]
        res = pool.imap_unordered(_create_orders, chunks)
        for _ in chunks:
            made, errs = res.next(timeout=max(1.0, deadline - time.monotonic()))
            ids.extend(made)
            _merge(errors, errs)
    took = time.monotonic() - t0
    random.shuffle(ids)
    with open(args.out, "w") as f:
        f.write("\n".join(ids) + "\n")
    out = {"item_id": item, "stock": args.stock, "orders": len(ids),
           "orders_requested": args.count, "errors": errors, "seconds": round(took, 3),
           "per_second": round(len(ids) / took, 1) if took else None}
    print(f"make-orders: {len(ids)} drafts of 1 unit on {item} ({args.stock} units) in "
          f"{took:.1f}s, errors: {errors or 'none'}", file=sys.stderr)
    print(json.dumps(out))
    if len(ids) != args.count:
        raise SystemExit("make-orders: not every order was created")


def _get_ok(c, path):
    status, body, raw = c.request("GET", path)
    if status != 200 or not isinstance(body, dict):
        raise SystemExit(f"GET {path}: HTTP {status}: {raw[:300]!r}")
    return body


def _time_invariants(c):
    t0 = time.perf_counter()
    status, body, raw = c.request("GET", "/api/v1/admin/invariants")
    took = time.perf_counter() - t0
    if status != 200 or not isinstance(body, dict):
        return {"status": status, "seconds": round(took, 3),
                "error": raw[:300].decode("utf-8", "replace")}
    rules = body.get("rules") or []
    return {"status": status, "seconds": round(took, 3), "ok": body.get("ok"),
            "rules": len(rules), "violations": len(body.get("violations") or []),
            "failing_rules": [r.get("rule") for r in rules if r.get("violations")]}


def check_orders(args):
    """After the confirm race on the hot item: reads its stock, counts the
    confirmed orders on it by listing every order, compares with the 200s
    and with the units received, and runs the invariants check."""
    c = Client(args.url, env_secret(args.token_env))
    with open(args.made) as f:
        made = json.load(f)
    with open(args.result) as f:
        result = json.load(f)
    item = made["item_id"]
    stock = _get_ok(c, f"/api/v1/items/{item}/stock")
    by_status, units = {}, {}
    cursor, pages = None, 0
    while True:
        path = "/api/v1/sales-orders?limit=500&q=bench-hot"
        if cursor:
            path += "&cursor=" + urllib.parse.quote(cursor)
        page = _get_ok(c, path)
        pages += 1
        for o in page.get("sales_orders") or []:
            lines = [ln for ln in o.get("lines") or [] if ln.get("item_id") == item]
            if not lines:
                continue
            st = o.get("status")
            by_status[st] = by_status.get(st, 0) + 1
            units[st] = units.get(st, 0) + sum(int(ln.get("quantity", 0)) for ln in lines)
        cursor = page.get("next_cursor")
        if not cursor or pages > 10000:
            break
    inv = _time_invariants(c)
    c.close()
    conf = result.get("confirms") or {}
    confirmed_units = units.get("confirmed", 0)
    received = int(made["stock"])
    check = {
        "item_id": item,
        "units_received": received,
        "orders_made": made["orders"],
        "orders_by_status": by_status,
        "confirmed_units": confirmed_units,
        "responses_200": conf.get("ok"),
        "responses_409": conf.get("refused"),
        "unanswered": result.get("unanswered"),
        "on_hand": stock.get("on_hand"),
        "reserved": stock.get("reserved"),
        "available": stock.get("available"),
        "invariants": inv,
    }
    problems = []
    if confirmed_units > received:
        problems.append(f"OVERSOLD: {confirmed_units} units confirmed, {received} received")
    if confirmed_units != conf.get("ok"):
        problems.append(f"{confirmed_units} orders confirmed but {conf.get('ok')} confirms answered 200")
    if stock.get("reserved") != confirmed_units:
        problems.append(f"reserved {stock.get('reserved')} != confirmed units {confirmed_units}")
    if stock.get("on_hand") != received:
        problems.append(f"on_hand {stock.get('on_hand')} != received {received}")
    if (stock.get("available") or 0) < 0:
        problems.append(f"available is negative: {stock.get('available')}")
    if inv.get("ok") is not True:
        problems.append(f"invariants check not ok: {inv}")
    all_sent = int(result.get("sent") or 0) >= int(made["orders"])
    check["all_orders_sent"] = all_sent
    if made["orders"] > received and all_sent and confirmed_units != received:
        problems.append(f"only {confirmed_units} of {received} units sold with more orders than stock")
    check["ok"] = not problems
    check["verdict"] = ("ok: " + f"{confirmed_units} units confirmed of {received} received, "
                        f"reserved {stock.get('reserved')}, available {stock.get('available')}, "
                        "invariants ok") if not problems else "; ".join(problems)
    with open(args.out, "w") as f:
        json.dump(check, f, indent=2)
    print(f"hot confirms: {check['verdict']}", file=sys.stderr)


def invariants(args):
    """Times GET /api/v1/admin/invariants REPEAT times, one after the other."""
    global SOCKET_TIMEOUT
    SOCKET_TIMEOUT = args.timeout
    c = Client(args.url, env_secret(args.token_env))
    runs = [_time_invariants(c) for _ in range(args.repeat)]
    c.close()
    print(json.dumps({"runs": runs}))


def _post_batch(movements):
    c = _W["client"]
    try:
        status, _, raw = c.request("POST", "/api/v1/movements/batch",
                                   {"movements": movements}, retries=0)
    except ConnectionError as e:
        _connection_failed()
        return 0, f"connection: {e}"
    _W["failures"] = 0
    if status == 201:
        return len(movements), 201
    return 0, f"{status}: {raw[:200].decode('utf-8', 'replace')}"


def ledger_fill(args):
    """Adds ROWS ledger rows through POST /api/v1/movements/batch (BATCH a
    call): 1-unit receives on random seeded items, so no row can fail."""
    token = env_secret(args.token_env)
    with open(args.ids) as f:
        ids = [line.strip() for line in f if line.strip()]
    rng = random.Random(12)
    batches = []
    left = args.rows
    while left > 0:
        n = min(args.batch, left)
        batches.append([{"item_id": ids[rng.randrange(len(ids))], "kind": "receive",
                         "quantity": 1, "reference": "bench-fill"} for _ in range(n)])
        left -= n
    deadline = time.monotonic() + args.timeout
    ctx = multiprocessing.get_context("fork")
    t0 = time.monotonic()
    added, failures = 0, []
    with ctx.Pool(args.workers, initializer=_worker_init, initargs=(args.url, token)) as pool:
        res = pool.imap_unordered(_post_batch, batches)
        for _ in batches:
            ok, status = res.next(timeout=max(1.0, deadline - time.monotonic()))
            added += ok
            if status != 201:
                failures.append(status)
    took = time.monotonic() - t0
    out = {"rows_requested": args.rows, "rows_added": added, "batch": args.batch,
           "workers": args.workers, "seconds": round(took, 3),
           "rows_per_second": round(added / took, 1) if took else None,
           "failed_batches": len(failures), "first_failure": failures[0] if failures else None}
    print(f"ledger-fill: {added} movements in {took:.1f}s", file=sys.stderr)
    print(json.dumps(out))
    if failures:
        raise SystemExit(f"ledger-fill: {len(failures)} batch(es) failed: {failures[0]}")


def route_times(args):
    """Prints, per route of the sales-order flow, the server's request count
    and mean time from inventory_request_duration_seconds (cumulative since
    the server started)."""
    c = Client(args.url, os.environ.get(args.token_env or "", "") or None)
    status, _, raw = c.request("GET", "/metrics")
    c.close()
    if status != 200:
        print(json.dumps({"error": f"HTTP {status}"}))
        return
    sums, counts = {}, {}
    for line in raw.decode("utf-8", "replace").splitlines():
        if not line.startswith("inventory_request_duration_seconds_"):
            continue
        name, _, value = line.rpartition(" ")
        if "sales-orders" not in name:
            continue
        kind = name.split("{", 1)[0].rsplit("_", 1)[-1]
        labels = dict(re.findall(r'(\w+)="([^"]*)"', name))
        key = f"{labels.get('method', '')} {labels.get('endpoint', '')}"
        if kind == "sum":
            sums[key] = sums.get(key, 0.0) + float(value)
        elif kind == "count":
            counts[key] = counts.get(key, 0) + int(float(value))
    routes = {k: {"count": counts[k], "mean_ms": round(sums.get(k, 0.0) / counts[k] * 1000, 3)}
              for k in sorted(counts) if counts[k]}
    print(json.dumps({"routes": routes}))


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    sub.add_parser("free-port").set_defaults(fn=free_port)

    s = sub.add_parser("wait-ready")
    s.add_argument("url")
    s.add_argument("--pid", type=int, default=0)
    s.add_argument("--timeout", type=float, default=60)
    s.set_defaults(fn=wait_ready)

    s = sub.add_parser("login")
    s.add_argument("url")
    s.add_argument("--username", default="admin")
    s.add_argument("--password-env", required=True)
    s.set_defaults(fn=login)

    s = sub.add_parser("stock")
    s.add_argument("url")
    s.add_argument("--token-env", required=True)
    s.add_argument("--item", required=True)
    s.set_defaults(fn=stock)

    s = sub.add_parser("seed")
    s.add_argument("url")
    s.add_argument("--token-env", required=True)
    s.add_argument("--items", type=int, default=100_000,
                   help="last item index (items BENCH-<start>..BENCH-<items>)")
    s.add_argument("--start", type=int, default=1, help="first item index")
    s.add_argument("--no-hot", action="store_true", help="do not create the hot item")
    s.add_argument("--workers", type=int, default=8)
    s.add_argument("--stock", type=int, default=1000, help="units received per item")
    s.add_argument("--hot-stock", type=int, default=100_000_000)
    s.add_argument("--batch", type=int, default=1000)
    s.add_argument("--timeout", type=float, default=240, help="overall deadline, seconds")
    s.add_argument("--out", required=True)
    s.set_defaults(fn=seed)

    s = sub.add_parser("warm")
    s.add_argument("url")
    s.add_argument("--token-env", required=True)
    s.add_argument("--ids", required=True, help="file with one item id per line")
    s.add_argument("--workers", type=int, default=8)
    s.add_argument("--timeout", type=float, default=240)
    s.set_defaults(fn=warm)

    s = sub.add_parser("fsync-probe")
    s.add_argument("dir")
    s.add_argument("--count", type=int, default=200)
    s.add_argument("--timeout", type=float, default=10)
    s.set_defaults(fn=fsync_probe)

    s = sub.add_parser("walk-pages")
    s.add_argument("url")
    s.add_argument("--token-env", required=True)
    s.add_argument("--depth", type=int, required=True, help="items to pass")
    s.add_argument("--step", type=int, default=500, help="page size while walking")
    s.add_argument("--timeout", type=float, default=120)
    s.set_defaults(fn=walk_pages)

    s = sub.add_parser("redis-info")
    s.add_argument("host")
    s.add_argument("port", type=int)
    s.set_defaults(fn=redis_info)

    s = sub.add_parser("metrics")
    s.add_argument("url")
    s.add_argument("--token-env")
    s.set_defaults(fn=metrics)

    s = sub.add_parser("page-weight")
    s.add_argument("url")
    s.add_argument("--token-env", required=True)
    s.add_argument("--ids", required=True, help="file with one item id per line (the first is used)")
    s.add_argument("--samples", type=int, default=20, help="timed sequential requests per page")
    s.add_argument("--timeout", type=float, default=120)
    s.set_defaults(fn=page_weight)

    s = sub.add_parser("check-hot")
    s.add_argument("--before", required=True)
    s.add_argument("--after", required=True)
    s.add_argument("--result", required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(fn=check_hot)

    s = sub.add_parser("make-orders")
    s.add_argument("url")
    s.add_argument("--token-env", required=True)
    s.add_argument("--sku", default="BENCH-SO-HOT")
    s.add_argument("--stock", type=int, required=True, help="units received on the item")
    s.add_argument("--count", type=int, required=True, help="draft orders of 1 unit")
    s.add_argument("--workers", type=int, default=8)
    s.add_argument("--timeout", type=float, default=240)
    s.add_argument("--out", required=True, help="file for the order ids")
    s.set_defaults(fn=make_orders)

    s = sub.add_parser("check-orders")
    s.add_argument("url")
    s.add_argument("--token-env", required=True)
    s.add_argument("--made", required=True, help="make-orders' JSON")
    s.add_argument("--result", required=True, help="so_confirm_hot's BENCH_RESULT JSON")
    s.add_argument("--out", required=True)
    s.set_defaults(fn=check_orders)

    s = sub.add_parser("invariants")
    s.add_argument("url")
    s.add_argument("--token-env", required=True)
    s.add_argument("--repeat", type=int, default=3)
    s.add_argument("--timeout", type=float, default=300)
    s.set_defaults(fn=invariants)

    s = sub.add_parser("ledger-fill")
    s.add_argument("url")
    s.add_argument("--token-env", required=True)
    s.add_argument("--ids", required=True)
    s.add_argument("--rows", type=int, required=True)
    s.add_argument("--batch", type=int, default=1000)
    s.add_argument("--workers", type=int, default=4)
    s.add_argument("--timeout", type=float, default=900)
    s.set_defaults(fn=ledger_fill)

    s = sub.add_parser("route-times")
    s.add_argument("url")
    s.add_argument("--token-env")
    s.set_defaults(fn=route_times)

    args = p.parse_args()
    try:
        args.fn(args)
    except KeyboardInterrupt:
        # the Pool context manager has terminated the workers by now
        sys.exit(130)
    except ServerGone as e:
        sys.exit(f"{args.cmd}: {e}")
    except multiprocessing.TimeoutError:
        sys.exit(f"{args.cmd}: deadline passed")


if __name__ == "__main__":
    main()
