// Keyboard shortcuts of the queue page: j/k move, o open, c confirm, d dismiss (asks for the
// reason). Progressive: every action is also a plain form or link, so the page works without
// this file. Served as a file (no inline script) so the CSP can forbid inline scripts.
"use strict";
(function () {
  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("#queue tr.flag, #queue tr.case"));
  }
  var current = -1;
  function select(i) {
    var all = rows();
    if (all.length === 0) return;
    i = Math.max(0, Math.min(all.length - 1, i));
    if (current >= 0 && all[current]) all[current].classList.remove("selected");
    current = i;
    all[i].classList.add("selected");
    all[i].scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    if (target && /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) return;
    var all = rows();
    if (all.length === 0) return;
    var row = all[current];
    switch (event.key) {
      case "j": select(current + 1); break;
      case "k": select(current < 0 ? 0 : current - 1); break;
      case "o":
        if (row) window.location.href = row.getAttribute("data-href");
        break;
      case "c": {
        var confirmForm = row && row.querySelector("form.confirm");
        if (confirmForm) confirmForm.submit();
        break;
      }
      case "d": {
        var dismissForm = row && row.querySelector("form.dismiss");
        if (!dismissForm) break;
        var table = document.getElementById("queue");
        var reason = window.prompt(table.getAttribute("data-dismiss-prompt") || "Reason:");
        if (reason && reason.trim()) {
          dismissForm.querySelector("input[name=reason]").value = reason;
          dismissForm.submit();
        }
        break;
      }
      default: return;
    }
    event.preventDefault();
  });
})();
