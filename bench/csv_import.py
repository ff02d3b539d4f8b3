#!/usr/bin/env python3
"""Times a 100,000-row CSV import of items, and the export of them, against
a fresh server (SQLite by default; DATABASE_URL=postgres://... for
PostgreSQL). Prints one line per step; no assertion on time (a bench, not a
test). The figures go in docs/PERFORMANCE.md by hand, with this command.

Usage: bench/csv_import.py [--bin target/release/inventory] [--rows 100000]
"""

import argparse
import json
import os
import platform
import secrets
import socket
import subprocess
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(method, url, token=None, body=None, content_type=None):
    headers = {}
    if token:
        headers["authorization"] = f"Bearer {token}"
    if content_type:
        headers["content-type"] = content_type
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default="target/release/inventory")
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="csv-bench.")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    password = "bench-" + secrets.token_hex(8)
    env = dict(os.environ, PORT=str(port), BIND_ADDR="127.0.0.1",
               INVENTORY_ADMIN_PASSWORD=password, RUST_LOG="warn", LOG_FORMAT="text")
    env.setdefault("DATABASE_URL", f"sqlite://{work}/inventory.db")
    server = subprocess.Popen([args.bin, "serve"], env=env,
                              stdout=open(f"{work}/server.log", "w"), stderr=subprocess.STDOUT)
    try:
        for _ in range(600):
            try:
                if call("GET", f"{base}/ready")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        status, body = call("POST", f"{base}/api/v1/auth/login",
                            body=json.dumps({"username": "admin", "password": password}).encode(),
                            content_type="application/json")
        assert status == 200, body
        token = json.loads(body)["access_token"]
        lines = ["sku,name,description,category,barcode,unit,reorder_point,unit_cost"]
        for i in range(args.rows):
            lines.append(f"BENCH-{i:06},Bench item {i},\"A description, with a comma\","
                         f"cat-{i % 50},{4000000000000 + i},pcs,{i % 20},{i % 1000}.{i % 100:02}")
        csv = ("\r\n".join(lines) + "\r\n").encode()
        print(f"# {args.rows} rows, {len(csv) / 1e6:.1f} MB; {env['DATABASE_URL'].split(':')[0]}; "
              f"{os.cpu_count()} CPUs, {platform.platform()}")

        def timed(label, method, path, body=None, content_type=None):
            start = time.monotonic()
            status, out = call(method, f"{base}{path}", token, body, content_type)
            took = time.monotonic() - start
            summary = ""
            if out[:1] == b"{":
                report = json.loads(out)
                summary = {k: report.get(k) for k in ("total", "new", "changed", "unchanged", "invalid", "written")}
            else:
                summary = f"{len(out) / 1e6:.1f} MB"
            print(f"{label}: HTTP {status} in {took:.2f} s ({args.rows / took:,.0f} rows/s) {summary}")
            return out

        timed("dry run (check only)", "POST", "/api/v1/items/import?dry_run=true", csv, "text/csv")
        timed("import (all new)", "POST", "/api/v1/items/import", csv, "text/csv")
        export = timed("export", "GET", "/api/v1/items/export.csv")
        timed("import of the export (all unchanged)", "POST", "/api/v1/items/import", export, "text/csv")
        changed = csv.replace(b"Bench item", b"Bench thing")
        timed("import (all changed)", "POST", "/api/v1/items/import", changed, "text/csv")
        with open(f"/proc/{server.pid}/status") as f:
            rss = next(line.split()[1] for line in f if line.startswith("VmHWM:"))
        print(f"server peak RSS (VmHWM): {int(rss) / 1024:.0f} MB")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
