/* Countdowns for flash windows and payment deadlines: the server renders the seconds
   left, this only keeps them ticking. When one that was running reaches zero on a
   product or order page, the page reloads once so the buttons match the new state. */
(function () {
  "use strict";
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function render(left) {
    var days = Math.floor(left / 86400), rest = left % 86400;
    var text = pad(Math.floor(rest / 3600)) + ":" + pad(Math.floor(rest % 3600 / 60)) + ":" + pad(rest % 60);
    return days > 0 ? days + (document.documentElement.lang === "en" ? "d " : "天 ") + text : text;
  }
  function tick() {
    var now = Date.now();
    var nodes = document.querySelectorAll(".countdown[data-left]");
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      var total = parseInt(node.getAttribute("data-left"), 10);
      if (!node._seenAt) { node._seenAt = now; }
      var left = Math.max(0, total - Math.floor((now - node._seenAt) / 1000));
      var out = node.querySelector(".countdown-time");
      if (out) { out.textContent = render(left); }
      if (left === 0 && total > 0 && !node._done) {
        node._done = true;
        if (document.getElementById("redeem-panel") || document.querySelector("[data-testid=order-status]")) {
          setTimeout(function () { window.location.reload(); }, 1500);
        }
      }
    }
  }
  setInterval(tick, 1000);
})();
