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
    // Usable at phone width: wide tables scroll inside their frame, the page never sideways.
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    check(width <= size.width, `${name} is ${width}px wide at ${size.width}px`);
    await audit(page, `${name} at ${label}`);
  }
  await page.setViewportSize({ width: 1280, height: 900 });
}

// The stock value the dashboard must show: Σ on_hand × unit_cost over the
// items that are not archived, in exact ten-thousandths (BigInt), read
// through the API and formatted as the server formats money totals.
async function expectedStockValue(token) {
  let total = 0n;
  let cursor = null;
  do {
    const query = cursor ? `?limit=100&cursor=${encodeURIComponent(cursor)}` : "?limit=100";
    const r = await api("GET", `/api/v1/items${query}`, token);
    for (const item of r.body.items) {
      const [whole, fraction = ""] = item.unit_cost.split(".");
      total += BigInt(item.on_hand) * BigInt(whole + fraction.padEnd(4, "0"));
    }
    cursor = r.body.next_cursor;
  } while (cursor);
  const whole = (total / 10000n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  let fraction = (total % 10000n).toString().padStart(4, "0");
  while (fraction.length > 2 && fraction.endsWith("0")) {
    fraction = fraction.slice(0, -1);
  }
  return `${whole}.${fraction}`;
}

// A server-rendered chart: an SVG image with its title and description,
// pointing at a table of its figures (one row per day), no inline style.
async function checkChart(page, id, days, what) {
  const svg = page.locator(`svg[aria-labelledby="${id}-title"]`);
  check((await svg.count()) === 1, `${what}: one chart`);
  check((await svg.getAttribute("role")) === "img", `${what}: the chart is an image`);
  check((await svg.getAttribute("aria-describedby")) === `${id}-desc`, `${what}: described by its desc`);
  check((await svg.getAttribute("aria-details")) === `${id}-table`, `${what}: its table linked`);
  check((await svg.getAttribute("style")) === null && (await svg.locator("[style], style").count()) === 0, `${what}: no inline style`);
  const title = (await page.locator(`#${id}-title`).textContent()) ?? "";
  check(title.length > 0, `${what}: a title`);
  const desc = (await page.locator(`#${id}-desc`).textContent()) ?? "";
  check(desc.startsWith(title) && / to /.test(desc), `${what}: a description in words: ${desc}`);
  const rows = page.locator(`#${id}-table tbody tr`);
  check((await rows.count()) === days, `${what}: ${days} rows in its table, got ${await rows.count()}`);
  return rows;
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


// The scanner line entry of the new-order forms: the scanner types the
// code and Enter; with JavaScript the page names the item and moves to the
// quantity, without it the form comes back asking for the quantity, the
// code kept. Enter in the last field adds the line.
async function scanLine(page, code, quantity, price) {
  await page.locator("#code").focus();
  await page.keyboard.type(code);
  if (JS) {
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.activeElement && document.activeElement.id === "quantity");
    check((await text(page, "#code-status")).includes(code), `the scanned item is named: ${await text(page, "#code-status")}`);
  } else {
    await Promise.all([page.waitForNavigation(), page.keyboard.press("Enter")]);
    check((await page.locator("#quantity-error").count()) === 1, "without JS the line entry asks for the quantity");
    check((await page.locator("#code").inputValue()) === code, "the scanned code is kept");
    check((await page.evaluate(() => document.activeElement && document.activeElement.id)) === "quantity", "the quantity has the focus");
  }
  await page.keyboard.type(String(quantity));
  if (price !== undefined) {
    await page.locator("#price").fill(price);
    await page.locator("#price").focus();
  }
  await Promise.all([page.waitForNavigation(), page.keyboard.press("Enter")]);
  check((await text(page, "#code-status")).includes(`Added ${quantity} × ${code}`), `the line is added: ${await text(page, "main")}`);
  check((await page.evaluate(() => document.activeElement && document.activeElement.id)) === "code", "ready for the next scan");
}

// Item figures through the API.
async function itemFigures(token, id) {
  return (await api("GET", `/api/v1/items/${id}`, token)).body;
}

// (a) A sales order made in the UI: scanned lines, confirm, ship part, ship the rest.
// (b) A confirm that fails for lack of stock names the line.
async function salesFlow(page, token) {
  const customer = await api("POST", "/api/v1/parties", token, { name: `Corner Shop ${SUFFIX}`, kind: "customer" });
  check(customer.status === 201, `customer set up: ${customer.status}`);
  const items = {};
  for (const [name, stock] of [["APPLE", 10], ["PEAR", 5], ["PLUM", 2]]) {
    const sku = `${name}-${SUFFIX}`;
    const r = await api("POST", "/api/v1/items", token, { sku, name: name.toLowerCase() });
    check(r.status === 201, `${sku} set up`);
    check((await api("POST", "/api/v1/movements", token, { item_id: r.body.id, kind: "receive", quantity: stock })).status === 201, `${sku} stocked`);
    items[name] = { sku, id: r.body.id };
  }
  await page.goto(`${BASE}/sales-orders`);
  await page.getByRole("link", { name: "New sales order" }).click();
  await page.waitForLoadState("load");
  await page.getByLabel("Customer").selectOption({ label: `Corner Shop ${SUFFIX}` });
  await page.getByLabel("Reference").fill(`web-${SUFFIX}`);
  await scanLine(page, items.APPLE.sku, 4, "2.50");
  await scanLine(page, items.PEAR.sku, 3, "1.25");
  check((await text(page, "#draft-total")) === "13.75", `the draft's total: ${await text(page, "#draft-total")}`);
  await look(page, "sales-new");
  await submit(page, "Create order");
  check(/\/sales-orders\/[0-9a-f-]{36}\?done=created$/.test(page.url()), `after creating, the order's page: ${page.url()}`);
  const orderUrl = page.url().replace(/\?.*$/, "");
  const orderId = orderUrl.split("/").pop();
  check((await text(page, "#order-status")) === "Draft", "a new order is a draft");
  check((await text(page, "#order-total")) === "13.75", `the order total: ${await text(page, "#order-total")}`);

  await submit(page, "Confirm the order");
  check((await text(page, "#order-status")) === "Confirmed", `confirmed: ${await text(page, "main")}`);
  check((await itemFigures(token, items.APPLE.id)).reserved === 4, "confirming reserves the line");

  // Ship part: 2 of the apples.
  await page.getByLabel(`Ship now of ${items.APPLE.sku}`).fill("2");
  await submit(page, "Ship the quantities typed");
  check((await text(page, "#order-status")) === "Partially shipped", `partly shipped: ${await text(page, "main")}`);
  const partly = (await api("GET", `/api/v1/sales-orders/${orderId}`, token)).body;
  check(partly.lines[0].shipped === 2 && partly.lines[1].shipped === 0, `2 apples shipped: ${JSON.stringify(partly.lines)}`);
  const apple = await itemFigures(token, items.APPLE.id);
  check(apple.on_hand === 8 && apple.reserved === 2, `the apples issued and still reserved: ${apple.on_hand}/${apple.reserved}`);
  await look(page, "sales-order");

  // Shipping more than is outstanding is refused beside the line.
  await page.getByLabel(`Ship now of ${items.PEAR.sku}`).fill("9");
  await submit(page, "Ship the quantities typed");
  check((await page.locator("#line-2-error").count()) === 1, `too many is refused beside the line: ${await text(page, "main")}`);

  await submit(page, "Ship everything outstanding");
  check((await text(page, "#order-status")) === "Shipped", `shipped: ${await text(page, "main")}`);
  check((await itemFigures(token, items.APPLE.id)).on_hand === 6, "the rest of the apples issued");
  check((await itemFigures(token, items.PEAR.id)).on_hand === 2, "the pears issued");
  check((await page.getByRole("button", { name: /^Ship/ }).count()) === 0, "a shipped order offers no shipping");

  // The list by status.
  await page.goto(`${BASE}/sales-orders?status=shipped`);
  check((await page.getByRole("link", { name: partly.number }).count()) === 1, "the shipped tab lists the order");
  await look(page, "sales-list");

  // (b) Not enough plums: the confirm is refused, naming the line.
  const short = await api("POST", "/api/v1/sales-orders", token, {
    reference: `short-${SUFFIX}`,
    lines: [
      { item_id: items.APPLE.id, quantity: 1, unit_price: "2.50" },
      { item_id: items.PLUM.id, quantity: 5, unit_price: "0.80" },
    ],
  });
  check(short.status === 201, "short order set up");
  await page.goto(`${BASE}/sales-orders/${short.body.id}`);
  const refused = await Promise.all([page.waitForResponse((r) => r.url().endsWith("/confirm")), page.getByRole("button", { name: "Confirm the order" }).click()]);
  await page.waitForLoadState("load");
  check(refused[0].status() === 409, `a short confirm is a 409 page: ${refused[0].status()}`);
  const why = await text(page, "#problem");
  check(why.includes(`Line 2 (${items.PLUM.sku})`) && why.includes("2 available") && why.includes("5 requested"), `the short line is named: ${why}`);
  check((await page.locator("#line-2-error").count()) === 1, "the short line is marked");
  check((await text(page, "#order-status")) === "Draft", "a refused confirm leaves a draft");
  check((await itemFigures(token, items.APPLE.id)).reserved === 0, "a refused confirm reserves nothing");
  await look(page, "sales-confirm-refused");
  await submit(page, "Cancel the order");
  check((await text(page, "#order-status")) === "Cancelled", "a manager cancels the draft");
}

// Scan into an order's receive form, then the quantity and Enter.
async function scanReceipt(page, code, quantity) {
  await page.locator("#code").focus();
  await page.keyboard.type(code);
  if (JS) {
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.activeElement && document.activeElement.id === "quantity");
  } else {
    await Promise.all([page.waitForNavigation(), page.keyboard.press("Enter")]);
    check((await page.locator("#quantity-error").count()) === 1, "without JS the receipt asks for the quantity");
    check((await page.locator("#code").inputValue()) === code, "the scanned code is kept");
  }
  await page.keyboard.type(String(quantity));
  await Promise.all([page.waitForNavigation(), page.keyboard.press("Enter")]);
}

// (c) A purchase order made in the UI, submitted, and received in two
// deliveries; the second is more than ordered and is received anyway.
async function purchaseFlow(page, token) {
  const supplier = await api("POST", "/api/v1/parties", token, { name: `Acme Supply ${SUFFIX}`, kind: "supplier" });
  check(supplier.status === 201, "supplier set up");
  const sku = `BOLT-${SUFFIX}`;
  const item = await api("POST", "/api/v1/items", token, { sku, name: "Bolt", unit_cost: "0.35" });
  check(item.status === 201, "bolt set up");
  await page.goto(`${BASE}/purchase-orders`);
  await page.getByRole("link", { name: "New purchase order" }).click();
  await page.waitForLoadState("load");
  await page.getByLabel("Supplier (required)").selectOption({ label: `Acme Supply ${SUFFIX}` });
  await scanLine(page, sku, 10, "0.40");
  await look(page, "purchase-new");
  await submit(page, "Create order");
  check(/\/purchase-orders\/[0-9a-f-]{36}\?done=created$/.test(page.url()), `after creating, the order's page: ${page.url()}`);
  const orderId = page.url().replace(/\?.*$/, "").split("/").pop();
  check((await text(page, "#order-total")) === "4.00", `the order total: ${await text(page, "#order-total")}`);
  await submit(page, "Submit the order");
  check((await text(page, "#order-status")) === "Submitted", `submitted: ${await text(page, "main")}`);
  check((await itemFigures(token, item.body.id)).incoming === 10, "a submitted order is incoming");

  // First delivery: 4.
  await scanReceipt(page, sku, 4);
  check((await text(page, "#notice")).includes(`Received 4 × ${sku}`), `the first delivery is confirmed: ${await text(page, "main")}`);
  check((await text(page, "#order-status")) === "Partially received", "partly received");
  let bolt = await itemFigures(token, item.body.id);
  check(bolt.on_hand === 4 && bolt.incoming === 6, `4 in stock, 6 incoming: ${bolt.on_hand}/${bolt.incoming}`);
  check((await page.evaluate(() => document.activeElement && document.activeElement.id)) === "code", "ready for the next scan");
  await look(page, "purchase-order");

  // Second delivery: 7, one more than still expected: a warning first.
  await scanReceipt(page, sku, 7);
  const warning = await text(page, "#problem");
  check(warning.includes("Over-receipt") && warning.includes("expects 6 more") && warning.includes("receives 7"), `the over-receipt is explained: ${warning}`);
  check((await itemFigures(token, item.body.id)).on_hand === 4, "an over-receipt warning receives nothing");
  await look(page, "purchase-over-receipt");
  await submit(page, "Receive anyway");
  check((await text(page, "#order-status")) === "Received", `received: ${await text(page, "main")}`);
  bolt = await itemFigures(token, item.body.id);
  check(bolt.on_hand === 11 && bolt.incoming === 0, `11 in stock, none incoming: ${bolt.on_hand}/${bolt.incoming}`);
  const order = (await api("GET", `/api/v1/purchase-orders/${orderId}`, token)).body;
  check(order.lines[0].received === 11, `the line received 11: ${JSON.stringify(order.lines)}`);
  const receipts = await api("GET", `/api/v1/movements?item_id=${item.body.id}&kind=receive`, token);
  check(receipts.body.movements.length === 2 && receipts.body.movements.every((m) => m.reference === order.number), "two receipts carrying the order's number");
}

// Parties: create (a missing name refused beside its field), edit, archive.
async function partiesFlow(page, token) {
  const name = `Harbour Traders ${SUFFIX}`;
  await page.goto(`${BASE}/parties`);
  await page.getByRole("link", { name: "New party" }).click();
  await page.waitForLoadState("load");
  await page.getByLabel("Supplier and customer").check();
  await submit(page, "Save");
  check((await page.locator("#name-error").count()) === 1, `a missing name is refused beside its field: ${await text(page, "main")}`);
  await page.getByLabel("Name (required)").fill(name);
  await page.getByLabel("Code").fill(`HT-${SUFFIX}`);
  await submit(page, "Save");
  check((await text(page, "[role=status]")) === "Saved.", "the party is saved");
  await look(page, "parties");
  await page.getByRole("link", { name }).click();
  await page.waitForLoadState("load");
  await page.getByLabel("Phone").fill("+44 1234 567890");
  await submit(page, "Save");
  const listed = (await api("GET", `/api/v1/parties?q=${encodeURIComponent(name)}`, token)).body.parties;
  check(listed.length === 1 && listed[0].phone === "+44 1234 567890" && listed[0].kind === "both", `the edit is saved: ${JSON.stringify(listed)}`);
  await page.getByRole("link", { name }).click();
  await page.waitForLoadState("load");
  await look(page, "party");
  await submit(page, "Archive this party");
  check((await api("GET", `/api/v1/parties/${listed[0].id}`, token)).body.archived === true, "the party is archived");
}

// An item's reservations: listed on its page with reserved and incoming
// beside on hand and available, and released by a clerk or above.
async function reservationsFlow(page, token) {
  const sku = `NUT-${SUFFIX}`;
  const item = await api("POST", "/api/v1/items", token, { sku, name: "Nut" });
  check((await api("POST", "/api/v1/movements", token, { item_id: item.body.id, kind: "receive", quantity: 9 })).status === 201, "nuts stocked");
  const held = await api("POST", "/api/v1/reservations", token, { item_id: item.body.id, quantity: 3, reference: `cart-${SUFFIX}` });
  check(held.status === 201, `reservation set up: ${held.status}`);
  await page.goto(`${BASE}/items/${item.body.id}`);
  check((await text(page, "#reserved")) === "3" && (await text(page, "#available")) === "6" && (await text(page, "#incoming")) === "0", "the item's figures show reserved and incoming");
  check((await text(page, "table[aria-describedby=reservations]")).includes(`cart-${SUFFIX}`), "its reservation is listed");
  await look(page, "item-reservations");
  await submit(page, `Release 3 reserved for cart-${SUFFIX}`);
  check((await text(page, "[role=status]")).startsWith("Released"), "the release is confirmed");
  check((await api("GET", `/api/v1/reservations/${held.body.id}`, token)).body.status === "released", "the reservation is released");
  check((await text(page, "#reserved")) === "0", "nothing reserved after the release");
  await page.goto(`${BASE}/items?q=${encodeURIComponent(sku)}`);
  const headers = await page.locator("#results thead th").allTextContents();
  check(headers.includes("Reserved") && headers.includes("Incoming"), `the items list shows reserved and incoming: ${headers}`);
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

    // A sign-in posted from elsewhere (no sign-in cookie) is refused: no session.
    const forgedLogin = await fetch(`${BASE}/login`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ username: "admin", password: ADMIN_PASSWORD, csrf: "guess" }),
    });
    check(forgedLogin.status === 403, `a forged sign-in is refused: ${forgedLogin.status}`);
    check(!(forgedLogin.headers.get("set-cookie") ?? "").includes("inventory_session="), "a forged sign-in opens no session");

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
    // Its stock over the last 30 days: today's figure is what it holds now.
    const itemRows = await checkChart(page, "stock-chart", 30, "item stock chart");
    const itemToday = (await itemRows.last().locator("td.num").textContent())?.trim();
    check(itemToday === "12", `the item chart ends at today's 12 on hand, got ${itemToday}`);
    check((await page.locator("#stock-chart-table summary").textContent()).includes("Figures"), "the item chart's figures are a disclosure");
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
    await page.getByLabel("Search SKU, name or barcode").fill(sku.slice(0, 10));
    if (JS) {
      // Results follow the typing (htmx swaps the list in place), no button.
      const typed = encodeURIComponent(sku.slice(0, 10));
      await page.waitForFunction((q) => window.location.search.includes(`q=${q}`), typed, { timeout: 10000 });
      await page.waitForLoadState("networkidle");
    } else {
      await submit(page, "Show");
    }
    check((await page.getByRole("link", { name: sku }).count()) === 1, "search finds the item");
    await page.getByLabel("Search SKU, name or barcode").fill(barcode);
    if (JS) {
      await page.waitForFunction((b) => window.location.search.includes(b), barcode, { timeout: 10000 });
      await page.waitForLoadState("networkidle");
    } else {
      await submit(page, "Show");
    }
    check((await page.getByRole("link", { name: sku }).count()) === 1, "search finds the item by its barcode");
    check((await text(page, "#results caption")).startsWith("1 shown"), `only the item with that barcode: ${await text(page, "#results caption")}`);
    await look(page, "items");

    await page.goto(`${BASE}/`);
    check((await text(page, "h1")) === "Dashboard", "the dashboard");
    // Stock value at unit cost, exact; movements per day and value over time.
    const value = await expectedStockValue(token);
    check((await text(page, "#stock-value")) === value, `the stock value tile shows ${value}, got ${await text(page, "#stock-value")}`);
    const perDay = await checkChart(page, "movements-chart", 30, "movements chart");
    const today = Number((await perDay.last().locator("td.num").textContent())?.trim());
    // This run's receipt, transfer and reversal (and, JS off, the first run's too).
    check(today >= 3, `today's bar counts this run's movements (3 or more), got ${today}`);
    check((await page.locator("svg[aria-labelledby=movements-chart-title] rect.bar").count()) >= 1, "a bar for today");
    const valueRows = await checkChart(page, "value-chart", 30, "stock value chart");
    const valueToday = (await valueRows.last().locator("td.num").textContent())?.trim();
    check(valueToday === value, `the value chart ends at the value now (${value}), got ${valueToday}`);
    check((await page.locator("svg[aria-labelledby=value-chart-title] path.line").count()) === 1, "a line for the value");
    await look(page, "dashboard");
    await page.goto(`${BASE}/movements`);
    await look(page, "movements");
    await page.goto(`${BASE}/no-such-page`);
    check((await page.getByRole("link", { name: "Go to the dashboard" }).count()) === 1, "a 404 page has a way back");
    await look(page, "not-found");
    const missing = await page.goto(`${BASE}/items/00000000-0000-0000-0000-000000000000`);
    check(missing.status() === 404, `an unknown item is a 404 page: ${missing.status()}`);
    check((await page.getByRole("navigation", { name: "Main" }).count()) === 1, "an error page keeps the navigation of a signed-in visitor");

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

    // A stock count: one difference posts one adjustment.
    const shelfCount = `CNT-${SUFFIX}`.toUpperCase();
    check((await api("POST", "/api/v1/locations", token, { code: shelfCount, name: "Count shelf" })).status === 201, "count location set up");
    for (const [id, quantity] of [[itemId, 5], [second.body.id, 4]]) {
      const r = await api("POST", "/api/v1/movements", token, { item_id: id, kind: "receive", quantity, location: shelfCount });
      check(r.status === 201, "count stock set up");
    }
    const atCountShelf = async (id) => {
      const r = await api("GET", `/api/v1/items/${id}/stock`, token);
      return (r.body.locations.find((l) => l.location === shelfCount) ?? { on_hand: 0 }).on_hand;
    };
    await page.goto(`${BASE}/counts?location=${shelfCount}`);
    check((await text(page, "h1")).includes(shelfCount), "the sheet is for the chosen location");
    await look(page, "count-sheet");
    await page.getByLabel(`Counted ${sku}`, { exact: true }).fill("5");
    await page.getByLabel(`Counted ${sku2}`, { exact: true }).fill("3");
    await submit(page, "Review against the books");
    check((await text(page, "caption")).startsWith("1 line differs"), `the review finds one difference: ${await text(page, "caption")}`);
    await look(page, "count-review");
    check((await atCountShelf(second.body.id)) === 4, "a review writes nothing");
    await submit(page, /^Post the count/);
    check((await text(page, "[role=status]")).includes("1 adjustment recorded"), `the count is confirmed: ${await text(page, "main")}`);
    check((await atCountShelf(second.body.id)) === 3, "the difference is adjusted");
    check((await atCountShelf(itemId)) === 5, "a matching count adjusts nothing");
    const adjusted = await api("GET", `/api/v1/movements?item_id=${second.body.id}&kind=adjust`, token);
    check(adjusted.body.movements.length === 1 && adjusted.body.movements[0].reason === "stock count", "one adjust, reason 'stock count'");

    // A count posted after someone else moved a counted item is refused, naming it.
    await page.getByLabel(`Counted ${sku}`, { exact: true }).fill("4");
    await submit(page, "Review against the books");
    const moved = await api("POST", "/api/v1/movements", token, { item_id: itemId, kind: "issue", quantity: 1, location: shelfCount });
    check(moved.status === 201, "someone else issues one");
    await submit(page, /^Post the count/);
    const stale = await text(page, "[role=alert]");
    check(stale.includes("Stock moved since this count began") && stale.includes(sku), `the stale count names the item: ${stale}`);
    check((await atCountShelf(itemId)) === 4, "a stale count writes nothing");
    await look(page, "count-stale");
    await submit(page, /^Post the count/);
    check((await text(page, "[role=status]")).includes("everything matched"), `counted again, it posts: ${await text(page, "main")}`);

    // Live: the dashboard and an item's page follow a movement made through
    // the API, without a reload (JavaScript only; without it a reload shows it).
    if (JS) {
      await page.goto(`${BASE}/`);
      const before = await text(page, "#stock-value");
      await page.waitForFunction(() => document.readyState === "complete");
      check((await api("POST", "/api/v1/movements", token, { item_id: itemId, kind: "receive", quantity: 2 })).status === 201, "API receive");
      await page.waitForFunction((b) => document.getElementById("stock-value").textContent.trim() !== b, before, { timeout: 10000 });
      check((await text(page, "#live-status")).startsWith("Updated"), "the update is announced");
      await page.goto(itemUrl);
      const onHand = await text(page, "#on-hand");
      check((await api("POST", "/api/v1/movements", token, { item_id: itemId, kind: "issue", quantity: 2 })).status === 201, "API issue");
      await page.waitForFunction((b) => document.getElementById("on-hand").textContent.trim() !== b, onHand, { timeout: 10000 });
      check(Number(await text(page, "#on-hand")) === Number(onHand) - 2, "the item page shows the new on-hand figure");
    }

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

    await salesFlow(page, token);
    await purchaseFlow(page, token);
    await partiesFlow(page, token);
    await reservationsFlow(page, token);

    // An item without stock can be archived, and restored.
    const third = await api("POST", "/api/v1/items", token, { sku: `SPARE-${SUFFIX}`, name: "Spare" });
    await page.goto(`${BASE}/items/${third.body.id}`);
    await submit(page, "Archive this item");
    check((await text(page, "[role=status]")) === "Archived.", "archiving is confirmed");
    check((await api("GET", `/api/v1/items/${third.body.id}`, token)).body.archived === true, "the item is archived");
    await submit(page, "Restore this item");
    check((await api("GET", `/api/v1/items/${third.body.id}`, token)).body.archived === false, "the item is restored");

    // Users: an admin adds a clerk (a short password is refused beside its
    // field), makes them a manager, and cannot demote the last admin.
    const clerkName = `clerk${SUFFIX}`.toLowerCase();
    await page.goto(`${BASE}/users`);
    await page.getByLabel("Username (required)").fill(clerkName);
    await page.getByLabel("Password (required)").fill("short");
    await page.getByLabel("Role", { exact: true }).selectOption("clerk");
    await submit(page, "Create user");
    check((await page.locator("#password-error").count()) === 1, "a short password is refused beside its field");
    check((await api("POST", "/api/v1/auth/login", null, { username: clerkName, password: "short" })).status === 401, "a refused user does not exist");
    await page.getByLabel("Password (required)").fill("clerk-password-1");
    await submit(page, "Create user");
    check((await text(page, "[role=status]")) === `Saved ${clerkName}.`, `the user is saved: ${await text(page, "main")}`);
    const clerkToken = await apiToken(clerkName, "clerk-password-1");
    check((await api("GET", "/api/v1/me", clerkToken)).body.role === "clerk", "the new user is a clerk");
    await page.getByLabel(`Role of ${clerkName}`).selectOption("manager");
    await submit(page, `Change the role of ${clerkName}`);
    check((await api("GET", "/api/v1/me", clerkToken)).body.role === "manager", "the new role applies to the user's open session at once");
    await look(page, "users");
    await page.getByLabel("Role of admin", { exact: true }).selectOption("viewer");
    await submit(page, "Change the role of admin");
    check((await text(page, "[role=alert]")).includes("last enabled administrator"), `the last admin stays: ${await text(page, "main")}`);
    check((await api("GET", "/api/v1/me", token)).body.role === "admin", "the admin is still an admin");

    // The admin resets the new user's password (shown once) and disables them.
    await submit(page, `Reset password of ${clerkName}`);
    const oneTime = await page.getByLabel(`One-time password for ${clerkName}`).inputValue();
    check((await api("GET", "/api/v1/me", clerkToken)).status === 401, "a reset ends the user's sessions");
    const reset = await api("POST", "/api/v1/auth/login", null, { username: clerkName, password: oneTime });
    check(reset.status === 200 && reset.body.user.must_change_password === true, "the one-time password signs in, to be changed");
    await submit(page, `Disable ${clerkName}`);
    check((await api("POST", "/api/v1/auth/login", null, { username: clerkName, password: oneTime })).status === 401, "a disabled user cannot sign in");

    // Your account: an API token is shown once, reads, cannot write, and is revoked.
    await page.goto(`${BASE}/account`);
    await page.getByLabel("Name (required)").fill("e2e export");
    await page.getByRole("checkbox", { name: /read: see/ }).check();
    await submit(page, "Make token");
    const secret = await page.getByLabel(/Your new API token/).inputValue();
    check(secret.startsWith("inv_pat_"), `the token's secret is shown: ${await text(page, "main")}`);
    check((await api("GET", "/api/v1/items?limit=1", secret)).status === 200, "the token reads");
    check((await api("POST", "/api/v1/items", secret, { sku: `TOKEN-${SUFFIX}`, name: "x" })).status === 403, "a read token cannot write");
    await look(page, "account-token");
    await submit(page, "Revoke e2e export");
    check((await text(page, "[role=status]")).includes("revoked"), `the token is revoked: ${await text(page, "main")}`);
    check((await api("GET", "/api/v1/items?limit=1", secret)).status === 401, "a revoked token stops working");

    // The audit log: the clerk's role change is there with its before and
    // after, found by the filters; the export link carries the filters.
    await page.getByRole("link", { name: "Audit", exact: true }).click();
    await page.waitForLoadState("load");
    check(page.url() === `${BASE}/audit`, `the Audit link leads to the log, got ${page.url()}`);
    await page.getByLabel("Action").fill("user.updated");
    await page.getByLabel("Who").fill("admin");
    await submit(page, "Filter");
    const logged = await text(page, "table");
    check(logged.includes("role: clerk → manager"), `the role change is in the log: ${logged}`);
    check(!logged.includes("item.created"), `the filter holds: ${logged}`);
    const auditExport = await page.getByRole("link", { name: /Export CSV/ }).getAttribute("href");
    check(auditExport.includes("action=user.updated"), `the export keeps the filters: ${auditExport}`);
    await look(page, "audit");

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
    check((await page.getByRole("link", { name: "Count", exact: true }).count()) === 0, "a viewer sees no Count");
    check((await page.getByRole("link", { name: "Users", exact: true }).count()) === 0, "a viewer sees no Users");
    check((await page.request.get(`${BASE}/users`)).status() === 403, "a viewer is refused the users page");
    check((await page.getByRole("link", { name: "Audit", exact: true }).count()) === 0, "a viewer sees no Audit");
    check((await page.request.get(`${BASE}/audit`)).status() === 403, "a viewer is refused the audit log");
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
