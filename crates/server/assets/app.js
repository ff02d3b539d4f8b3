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

  function init() {
    var fields = document.querySelectorAll("input[data-scan]");
    for (var i = 0; i < fields.length; i++) { wireScanField(fields[i]); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
