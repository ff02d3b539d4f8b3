// End-to-end flows of the web UI in real headless Chromium, against a
// running server. Started by crates/server/tests/process/ui.rs, which starts
// the binary (SQLite or PostgreSQL) and passes:
//   BASE_URL          the server, e.g. http://127.0.0.1:41234
//   ADMIN_PASSWORD    the admin user's password
//   JAVASCRIPT        "on" or "off": the same flows must work both ways
//   SCREENSHOT_DIR    where to write the screenshots
//   CHROMIUM          the browser (default /usr/bin/chromium)
// Exits 0 when every check passed; otherwise prints what failed and exits 1.

import { chromium } from "playwright-core";
import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";

const BASE = process.env.AUDIT_FIXTURE ? "" : mustEnv("BASE_URL");
const ADMIN_PASSWORD = process.env.AUDIT_FIXTURE ? "" : mustEnv("ADMIN_PASSWORD");
const JS = (process.env.JAVASCRIPT ?? "on") === "on";
const SHOTS = process.env.SCREENSHOT_DIR ?? "target/ui-screenshots";
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const RUN = JS ? "js" : "nojs";
const SUFFIX = `${Date.now().toString(36)}${JS ? "J" : "N"}`;
const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

function mustEnv(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`error: ${name} is not set (run through cargo test --test process ui::)`);
    process.exit(2);
  }
  return value;
}

function check(condition, message) {
  if (!condition) {
    throw new Error(`[${RUN}] ${message}`);
  }
}

// The API, for setting up what a flow starts from and for checking what
// the UI wrote (never for the flow itself).
async function api(method, path, token, body) {
  const response = await fetch(BASE + path, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body ? { "content-type": "application/json" } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

async function apiToken(username, password) {
  const r = await api("POST", "/api/v1/auth/login", null, { username, password });
  check(r.status === 200, `API login as ${username}: ${r.status}`);
  return r.body.access_token;
}

const violations = [];

// axe-core on the current page: serious and critical violations fail the run.
async function audit(page, name) {
  if (!JS) {
    return; // axe runs as a script; the markup is the same with JS off.
  }
  // Through the DevTools protocol, which the page's CSP does not govern (a
  // script tag would be refused, as it should be).
  await page.evaluate(AXE);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")).join(", ") }));
  });
  for (const v of result) {
    if (v.impact === "serious" || v.impact === "critical") {
      violations.push(`${name}: ${v.id} (${v.impact}) ${v.help} at ${v.nodes}`);
    }
  }
}

// Screenshot and audit the current page at desktop and at phone width.
async function look(page, name) {
  for (const [label, size] of [["desktop", { width: 1280, height: 900 }], ["phone", { width: 375, height: 812 }]]) {
    await page.setViewportSize(size);
    await page.screenshot({ path: `${SHOTS}/${RUN}-${name}-${label}.png`, fullPage: true });
    await audit(page, `${name} at ${label}`);
  }
  await page.setViewportSize({ width: 1280, height: 900 });
}

async function text(page, selector) {
  return (await page.locator(selector).first().textContent())?.trim() ?? "";
}

async function submit(page, buttonText) {
  await Promise.all([page.waitForLoadState("load"), page.getByRole("button", { name: buttonText }).click()]);
}

async function signIn(page, username, password) {
  await page.goto(`${BASE}/items`);
  check(page.url().startsWith(`${BASE}/login`), `signed out, /items should lead to sign-in, got ${page.url()}`);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await submit(page, "Sign in");
  check(page.url() === `${BASE}/items`, `after sign-in, back to /items; got ${page.url()}`);
}

// AUDIT_FIXTURE=path: audit that one file and fail on what axe finds (the
// audit shown able to fail).
async function auditFixture(path) {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
  try {
    const page = await browser.newPage();
    await page.goto(`file://${path}`);
    await audit(page, path);
  } finally {
    await browser.close();
  }
  check(violations.length === 0, `axe-core found serious or critical violations:\n  ${violations.join("\n  ")}`);
}

async function main() {
  if (process.env.AUDIT_FIXTURE) {
    return auditFixture(process.env.AUDIT_FIXTURE);
  }
  mkdirSync(SHOTS, { recursive: true });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
  const cspErrors = [];
  try {
    const context = await browser.newContext({ javaScriptEnabled: JS, viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.on("console", (m) => {
      if (m.type() === "error" && /Content Security Policy|Refused to/.test(m.text())) {
        cspErrors.push(m.text());
      }
    });

    // Signed out: the sign-in page, and a wrong password says so.
    await page.goto(`${BASE}/`);
    check(page.url().startsWith(`${BASE}/login`), `GET / signed out should be the sign-in page, got ${page.url()}`);
    await look(page, "sign-in");
    await page.getByLabel("Username").fill("admin");
    await page.getByLabel("Password").fill("not-the-password");
    await submit(page, "Sign in");
    check((await text(page, "[role=alert]")).includes("Wrong username or password"), "a wrong password is reported");

    await signIn(page, "admin", ADMIN_PASSWORD);
    const token = await apiToken("admin", ADMIN_PASSWORD);
    const shelf = `SHELF-${SUFFIX}`.toUpperCase();
    check((await api("POST", "/api/v1/locations", token, { code: shelf, name: "Shelf" })).status === 201, "location set up");

    // Create an item; a bad field is reported beside it, and nothing is written.
    const sku = `WIDGET-${SUFFIX}`;
    // A code like those printed on goods, unique to this run.
    const barcode = `${JS ? 1 : 2}${Date.now()}`;
    await page.goto(`${BASE}/items/new`);
    await page.getByLabel("SKU").fill(sku);
    await page.getByLabel("Name (required)").fill("Widget");
    await page.getByLabel("Barcode").fill(barcode);
    await page.getByLabel("Unit cost").fill("lots");
    await submit(page, "Save");
    check((await page.locator("#unit_cost-error").count()) === 1, "a bad unit cost is reported beside its field");
    check((await page.getByLabel("Unit cost").getAttribute("aria-invalid")) === "true", "the bad field is marked invalid");
    await look(page, "item-form-error");
    const none = await api("GET", `/api/v1/items?sku=${encodeURIComponent(sku)}`, token);
    check(none.body.items.length === 0, "a refused form writes nothing");
    await page.getByLabel("Unit cost").fill("2.50");
    await submit(page, "Save");
    check(/\/items\/[0-9a-f-]{36}\?saved=1$/.test(page.url()), `after saving, the item's page; got ${page.url()}`);
    const itemUrl = page.url().replace(/\?.*$/, "");

    // Receive by scanning: the scanner types the barcode and Enter.
    await page.goto(`${BASE}/movements/new`);
    await page.getByLabel("Receive").check();
    await page.locator("#item").focus();
    await page.keyboard.type(barcode);
    if (JS) {
      await page.keyboard.press("Enter");
      await page.waitForFunction(() => document.activeElement && document.activeElement.id === "quantity");
      check((await text(page, "#item-status")).includes("Widget"), "the scanned item is named");
    } else {
      // Without JavaScript, Enter submits: the form comes back asking for the quantity, the item kept.
      await Promise.all([page.waitForNavigation(), page.keyboard.press("Enter")]);
      check((await page.locator("#quantity-error").count()) === 1, "without JS the form asks for the quantity");
      check((await page.locator("#item").inputValue()) === barcode, "the scanned code is kept");
      await page.locator("#quantity").focus();
    }
    await page.keyboard.type("12");
    await page.getByLabel("Reference").fill("DN-1");
    await submit(page, "Record");
    check((await text(page, "[role=status]")).includes(`12 × ${sku}`), `the receipt is confirmed: ${await text(page, "main")}`);
    await look(page, "record-stock");

    // Issuing more than is on hand is refused, saying how many are available.
    await page.getByLabel("Issue").check();
    await page.locator("#item").fill(sku);
    await page.locator("#quantity").fill("100");
    await submit(page, "Record");
    const refusal = await text(page, "[role=alert]");
    check(refusal.includes("12 available") && refusal.includes("100 requested"), `insufficient stock explained: ${refusal}`);

    // Transfer 5 to the shelf.
    await page.getByLabel("Transfer").check();
    await page.locator("#item").fill(sku);
    await page.locator("#quantity").fill("5");
    await page.locator("#to_location").fill(shelf);
    await submit(page, "Record");
    check((await text(page, "[role=status]")).includes("transfer 5"), "the transfer is confirmed");

    // The item's page shows both locations and its history.
    await page.goto(itemUrl);
    const stockTable = await text(page, "table[aria-describedby=per-location]");
    check(stockTable.includes(shelf) && stockTable.includes("MAIN"), `stock per location: ${stockTable}`);
    check((await page.locator("table[aria-describedby=latest] tbody tr").count()) === 2, "two movements in the history");
    await look(page, "item");

    // A mistake is undone by reversing it: the opposite movement is recorded.
    await page.getByRole("link", { name: `Reverse this transfer of ${sku}` }).click();
    await page.waitForLoadState("load");
    await look(page, "reverse");
    await page.getByLabel("Why (required)").fill("wrong shelf");
    await submit(page, "Reverse it");
    check((await text(page, "[role=status]")).includes("Reversed"), "the reversal is confirmed");
    const stock = await api("GET", `/api/v1/items/${itemUrl.split("/").pop()}/stock`, token);
    const atShelf = stock.body.locations.find((l) => l.location === shelf);
    check(!atShelf || atShelf.on_hand === 0, `the transfer is undone: ${JSON.stringify(stock.body.locations)}`);
    check((await page.getByRole("link", { name: `Reverse this transfer of ${sku}` }).count()) === 0, "a reversed movement cannot be reversed again");

    // Search.
    await page.goto(`${BASE}/items`);
    await page.getByLabel("Search SKU or name").fill(sku.slice(0, 10));
    await submit(page, "Show");
    check((await page.getByRole("link", { name: sku }).count()) === 1, "search finds the item");
    await look(page, "items");

    await page.goto(`${BASE}/`);
    check((await text(page, "h1")) === "Dashboard", "the dashboard");
    await look(page, "dashboard");
    await page.goto(`${BASE}/movements`);
    await look(page, "movements");
    await page.goto(`${BASE}/no-such-page`);
    check((await page.getByRole("link", { name: "Go to the dashboard" }).count()) === 1, "a 404 page has a way back");
    await look(page, "not-found");

    // A form without its CSRF token changes nothing.
    const itemId = itemUrl.split("/").pop();
    const forged = await page.request.post(`${itemUrl}/edit`, {
      form: { sku, name: "Forged", version: "1" },
      maxRedirects: 0,
    });
    check(forged.status() === 403, `a form without its CSRF token is refused: ${forged.status()}`);
    const after = await api("GET", `/api/v1/items/${itemId}`, token);
    check(after.body.name === "Widget", "the forged form changed nothing");

    // Locations: a duplicate code is refused beside its field; a new one is listed.
    await page.goto(`${BASE}/locations`);
    await page.getByLabel("Code (required)").fill(shelf.toLowerCase());
    await page.getByLabel("Name (required)").fill("Again");
    await submit(page, "Create location");
    check((await page.locator("#code-error").count()) === 1, "a duplicate location code is reported beside the field");
    const bench = `BENCH-${SUFFIX}`.toUpperCase();
    await page.getByLabel("Code (required)").fill(bench);
    await page.getByLabel("Name (required)").fill("Workbench");
    await submit(page, "Create location");
    check((await text(page, "[role=status]")).includes(`Saved ${bench}`), "the new location is confirmed");
    check((await page.getByRole("cell", { name: bench, exact: true }).count()) === 1, "the new location is listed");
    await look(page, "locations");

    // A delivery of several lines is one batch: a bad line records nothing.
    const sku2 = `GADGET-${SUFFIX}`;
    const second = await api("POST", "/api/v1/items", token, { sku: sku2, name: "Gadget" });
    check(second.status === 201, "second item set up");
    await page.goto(`${BASE}/movements/delivery`);
    await page.getByLabel("Reference").fill("DN-2");
    await page.getByLabel("SKU or barcode of line 1", { exact: true }).fill(sku);
    await page.getByLabel("Quantity of line 1", { exact: true }).fill("3");
    await page.getByLabel("SKU or barcode of line 2", { exact: true }).fill(`NO-SUCH-${SUFFIX}`);
    await page.getByLabel("Quantity of line 2", { exact: true }).fill("2");
    await submit(page, "Receive all lines");
    check((await text(page, "[role=alert]")).includes("Line 2 was refused"), `the bad line is named: ${await text(page, "[role=alert]")}`);
    check((await page.locator("#line-2-error").count()) === 1, "the error is beside line 2");
    check((await api("GET", `/api/v1/items/${itemId}`, token)).body.on_hand === 12, "a refused delivery records nothing");
    await look(page, "delivery-refused");
    await page.getByLabel("SKU or barcode of line 2", { exact: true }).fill(sku2);
    await submit(page, "Receive all lines");
    check((await text(page, "[role=status]")).includes("Received 2 lines"), "the delivery is confirmed");
    check((await api("GET", `/api/v1/items/${itemId}`, token)).body.on_hand === 15, "line 1 received");
    check((await api("GET", `/api/v1/items/${second.body.id}`, token)).body.on_hand === 2, "line 2 received");

    // CSV: the items list exports what it shows; an import is previewed
    // row by row and writes all of its rows or none.
    await page.goto(`${BASE}/items?q=${encodeURIComponent(sku.slice(0, 10))}`);
    const exportLink = page.getByRole("link", { name: "Export CSV of the items shown" });
    const exportHref = await exportLink.getAttribute("href");
    check(exportHref.startsWith("/items/export.csv?") && exportHref.includes(`q=${encodeURIComponent(sku.slice(0, 10))}`), `the export carries the filters: ${exportHref}`);
    const exported = await page.request.get(`${BASE}${exportHref}`);
    check(exported.status() === 200 && exported.headers()["content-type"].startsWith("text/csv"), `the export is CSV: ${exported.status()}`);
    const exportedText = await exported.text();
    check(exportedText.startsWith("sku,name,description,category,barcode,unit,reorder_point,unit_cost,on_hand,available") && exportedText.includes(sku), `the export holds the item: ${exportedText.slice(0, 200)}`);
    await page.getByRole("link", { name: "Import items" }).click();
    await page.waitForLoadState("load");
    await look(page, "import");
    const imp = (n) => `IMP-${n}-${SUFFIX}`;
    const badCsv = `sku,name,unit_cost\n${imp("A")},Alpha,1.00\n${imp("B")},,2.00\n`;
    await page.getByLabel("CSV file (required)").setInputFiles({ name: "bad.csv", mimeType: "text/csv", buffer: Buffer.from(badCsv) });
    await submit(page, "Check the file");
    const refusedImport = await text(page, "[role=alert]");
    check(refusedImport.includes("Nothing was written") && refusedImport.includes("1 of 2 rows"), `a bad row is reported: ${refusedImport}`);
    const errorRow = await text(page, "table[aria-describedby=errors] tbody tr");
    check(errorRow.includes("3") && errorRow.includes("name"), `the error names row 3 and its column: ${errorRow}`);
    check((await page.getByRole("button", { name: /^Import/ }).count()) === 0, "an invalid file offers no import");
    await look(page, "import-refused");
    check((await api("GET", `/api/v1/items?sku=${encodeURIComponent(imp("A"))}`, token)).body.items.length === 0, "a file with a bad row writes nothing");
    await page.goto(`${BASE}/items/import`);
    const category = `imported-${SUFFIX}`;
    const goodCsv = `sku,name,category,unit_cost\n${imp("A")},Alpha,${category},1.00\n${imp("B")},"Beta, the second",${category},2.50\n${sku},Widget,${category},2.50\n`;
    await page.getByLabel("CSV file (required)").setInputFiles({ name: "good.csv", mimeType: "text/csv", buffer: Buffer.from(goodCsv) });
    await submit(page, "Check the file");
    const preview = await text(page, "[role=status]");
    check(preview.includes("3 rows checked: 2 new, 1 changed, 0 unchanged"), `the preview counts the rows: ${preview}`);
    const statuses = await page.locator("table[aria-describedby=rows] tbody tr .badge").allTextContents();
    check(JSON.stringify(statuses) === JSON.stringify(["new", "new", "changed"]), `every row is listed: ${statuses}`);
    check((await api("GET", `/api/v1/items?sku=${encodeURIComponent(imp("A"))}`, token)).body.items.length === 0, "a preview writes nothing");
    await look(page, "import-preview");
    await submit(page, "Import 3 rows");
    const imported = await text(page, "[role=status]");
    check(imported.includes("Imported 3 rows: 2 new, 1 changed"), `the import is confirmed: ${imported}`);
    await look(page, "import-done");
    const listed = await api("GET", `/api/v1/items?category=${category}&limit=10`, token);
    check(JSON.stringify(listed.body.items.map((i) => i.sku).sort()) === JSON.stringify([imp("A"), imp("B"), sku].sort()), `every row was written: ${listed.body.items.map((i) => i.sku)}`);
    check(listed.body.items.find((i) => i.sku === imp("B")).name === "Beta, the second", "a quoted cell is read whole");
    await page.goto(`${BASE}/movements`);
    const ledger = await page.request.get(`${BASE}${await page.getByRole("link", { name: "Export CSV of the ledger" }).getAttribute("href")}`);
    check(ledger.status() === 200 && (await ledger.text()).startsWith("seq,id,created_at,kind,sku"), "the ledger exports as CSV");

    // An item without stock can be archived, and restored.
    const third = await api("POST", "/api/v1/items", token, { sku: `SPARE-${SUFFIX}`, name: "Spare" });
    await page.goto(`${BASE}/items/${third.body.id}`);
    await submit(page, "Archive this item");
    check((await text(page, "[role=status]")) === "Archived.", "archiving is confirmed");
    check((await api("GET", `/api/v1/items/${third.body.id}`, token)).body.archived === true, "the item is archived");
    await submit(page, "Restore this item");
    check((await api("GET", `/api/v1/items/${third.body.id}`, token)).body.archived === false, "the item is restored");

    // Sign out ends the session for the API too.
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === "inventory_session");
    check(session && session.httpOnly && session.sameSite === "Lax", "the session cookie is HttpOnly and SameSite=Lax");
    check((await api("GET", "/api/v1/items?limit=1", session.value)).status === 200, "the cookie's session works as a bearer token");
    await page.goto(`${BASE}/`);
    await submit(page, "Sign out");
    check(page.url().startsWith(`${BASE}/login`), "signed out: the sign-in page");
    check((await api("GET", "/api/v1/items?limit=1", session.value)).status === 401, "signing out ends the session everywhere");

    // A viewer sees no editing controls, and an edit posted anyway is refused.
    const viewer = `viewer${SUFFIX}`.toLowerCase();
    check(
      (await api("POST", "/api/v1/users", token, { username: viewer, password: "viewer-password-1", role: "viewer" })).status === 201,
      "viewer set up",
    );
    await signIn(page, viewer, "viewer-password-1");
    await page.goto(itemUrl);
    check((await page.getByRole("link", { name: "Edit" }).count()) === 0, "a viewer sees no Edit");
    check((await page.getByRole("link", { name: "Record stock" }).count()) === 0, "a viewer sees no Record stock");
    check((await page.getByRole("link", { name: /^Reverse/ }).count()) === 0, "a viewer sees no Reverse");
    check((await page.getByRole("button", { name: /Archive/ }).count()) === 0, "a viewer sees no Archive");
    await look(page, "item-as-viewer");
    const csrf = await page.locator("input[name=csrf]").first().inputValue();
    const posted = await page.request.post(`${itemUrl}/edit`, {
      form: { csrf, sku, name: "By a viewer", version: "1" },
      maxRedirects: 0,
    });
    check(posted.status() === 403, `a viewer's edit is refused: ${posted.status()}`);
    check((await api("GET", `/api/v1/items/${itemId}`, token)).body.name === "Widget", "the viewer's edit changed nothing");
    check((await page.goto(`${BASE}/items`)) && (await page.getByRole("link", { name: "Import items" }).count()) === 0, "a viewer sees no Import items");
    const viewerImport = await page.request.post(`${BASE}/items/import`, {
      multipart: { csrf, file: { name: "v.csv", mimeType: "text/csv", buffer: Buffer.from(`sku,name\nVIEWER-${SUFFIX},x\n`) } },
      maxRedirects: 0,
    });
    check(viewerImport.status() === 403, `a viewer's import is refused: ${viewerImport.status()}`);
    check((await api("GET", `/api/v1/items?sku=VIEWER-${SUFFIX}`, token)).body.items.length === 0, "the viewer's import wrote nothing");
    await context.close();
  } finally {
    await browser.close();
  }
  check(cspErrors.length === 0, `the Content-Security-Policy blocked something: ${cspErrors.join(" | ")}`);
  check(violations.length === 0, `axe-core found serious or critical violations:\n  ${violations.join("\n  ")}`);
  console.log(`[${RUN}] every UI check passed; screenshots in ${SHOTS}`);
}

main().catch((e) => {
  console.error(e.message ?? e);
  process.exit(1);
});
