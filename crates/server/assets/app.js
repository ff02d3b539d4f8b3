// Inventory Manager UI enhancements. Every page works without this file;
// it only saves keystrokes and round trips.
(function () {
  "use strict";

  // Scanner-friendly item fields: a keyboard-wedge scanner types the code
  // and presses Enter. Instead of submitting the half-filled form, look the
  // code up, show which item it is, and move on to the quantity.
  function wireScanField(input) {
    var target = document.getElementById(input.getAttribute("data-next"));
    var status = document.getElementById(input.getAttribute("data-status"));
    input.addEventListener("keydown", function (event) {
      if (event.key !== "Enter") { return; }
      event.preventDefault();
      var code = input.value.trim();
      if (code === "") { return; }
      fetch("/items/lookup?code=" + encodeURIComponent(code), {
        headers: { "Accept": "application/json" },
        credentials: "same-origin"
      }).then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      }).then(function (result) {
        if (result.ok) {
          input.value = result.body.sku;
          input.setAttribute("aria-invalid", "false");
          if (status) { status.textContent = result.body.sku + " – " + result.body.name + " (" + result.body.available + " available)"; }
          if (target) { target.focus(); target.select(); }
        } else {
          input.setAttribute("aria-invalid", "true");
          if (status) { status.textContent = result.body.detail || "No item has that code."; }
          input.select();
        }
      }).catch(function () {
        // Offline or the server is gone: let the form submit normally.
        if (target) { target.focus(); }
      });
    });
  }

  // Live pages: the change feed says that stock changed somewhere; the page
  // then fetches itself and swaps its live region, so it shows exactly what
  // a reload would. Bursts of changes cost one fetch.
  function wireLive(region) {
    if (!window.EventSource) { return; }
    var query = [];
    var item = region.getAttribute("data-live-item");
    var after = region.getAttribute("data-live-after");
    if (item) { query.push("item=" + encodeURIComponent(item)); }
    if (after) { query.push("after=" + encodeURIComponent(after)); }
    // On reconnecting, EventSource resumes from the last event it saw.
    var source = new EventSource("/live" + (query.length ? "?" + query.join("&") : ""));
    var status = document.getElementById("live-status");
    var pending = null;
    function refresh() {
      pending = null;
      fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (html === null) { return; }
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(region.id);
          if (!fresh) { return; }
          region.innerHTML = fresh.innerHTML;
          if (status) { status.textContent = "Updated " + new Date().toLocaleTimeString() + "."; }
        })
        .catch(function () { /* the next change tries again */ });
    }
    source.addEventListener("change", function () {
      if (pending === null) { pending = window.setTimeout(refresh, 150); }
    });
  }

  function init() {
    var fields = document.querySelectorAll("input[data-scan]");
    for (var i = 0; i < fields.length; i++) { wireScanField(fields[i]); }
    var live = document.querySelectorAll("[data-live]");
    for (var j = 0; j < live.length; j++) { wireLive(live[j]); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
