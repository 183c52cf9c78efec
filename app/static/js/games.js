/* Lucky draw: the server has already decided and recorded the prize; this only animates
   the wheel or the nine-grid onto the slot named in the result fragment, then shows it. */
(function () {
  "use strict";

  var reduced = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  function setBusy(board, busy) {
    board.classList.toggle("is-spinning", busy);
    var go = document.getElementById("draw-go");
    if (go && go.tagName === "BUTTON") go.disabled = busy;
  }

  function markWon(board, slot) {
    var old = board.querySelectorAll("[data-slot].is-won");
    for (var i = 0; i < old.length; i++) old[i].classList.remove("is-won");
    var cell = board.querySelector('[data-slot="' + slot + '"]');
    if (cell) cell.classList.add("is-won");
  }

  function spinWheel(board, slot, done) {
    var disc = board.querySelector(".wheel-disc");
    var seg = 360 / parseInt(board.dataset.slots, 10);
    var turned = parseFloat(disc.dataset.turn || "0");
    // Slot i spans [i*seg, (i+1)*seg] clockwise from the top pointer; bring its centre to the top.
    var target = turned - (turned % 360) + 360 * 6 + (360 - (slot + 0.5) * seg);
    var finished = false;
    function end() {
      if (finished) return;
      finished = true;
      done();
    }
    disc.dataset.turn = String(target);
    disc.addEventListener("transitionend", end, { once: true });
    window.setTimeout(end, 5200); // a background tab may never fire transitionend
    window.requestAnimationFrame(function () {
      disc.style.transform = "rotate(" + target + "deg)";
    });
  }

  function runGrid(board, slot, done) {
    var cells = [];
    var nodes = board.querySelectorAll(".grid-cell[data-slot]");
    for (var i = 0; i < nodes.length; i++) cells[parseInt(nodes[i].dataset.slot, 10)] = nodes[i];
    var n = cells.length;
    var steps = n * 3 + slot + 1; // three laps, then stop on the slot
    var step = 0;
    function light(k) {
      for (var j = 0; j < n; j++) cells[j].classList.toggle("is-lit", j === k);
    }
    function tick() {
      light(step % n);
      step += 1;
      if (step >= steps) {
        window.setTimeout(function () { light(-1); done(); }, 260);
        return;
      }
      var left = steps - step;
      window.setTimeout(tick, left < 9 ? 70 + (9 - left) * 45 : 70);
    }
    tick();
  }

  function land(result) {
    if (!result || result.dataset.landed) return;
    result.dataset.landed = "1";
    var board = document.getElementById("draw-board");
    var slot = parseInt(result.dataset.slot, 10);
    function reveal() {
      if (board) {
        markWon(board, slot);
        setBusy(board, false);
      }
      // That was the last play there is (the newbie gift, or today's limit): the button says so.
      var go = document.getElementById("draw-go");
      if (result.dataset.final && go && go.tagName === "BUTTON") {
        go.disabled = true;
        go.textContent = result.dataset.final;
      }
      // Only now the header balance: changed at the start it would give the result away.
      var balance = document.getElementById("points-balance");
      if (balance && result.dataset.balance) balance.textContent = result.dataset.balance;
      result.classList.remove("is-pending");
      result.classList.add("is-revealed");
    }
    if (!board || reduced || !result.classList.contains("is-pending")) {
      reveal();
      return;
    }
    setBusy(board, true);
    if (board.dataset.skin === "wheel") spinWheel(board, slot, reveal);
    else runGrid(board, slot, reveal);
  }

  function scan(root) {
    if (!root || !root.querySelector) return;
    if (root.matches && root.matches("[data-draw-result]")) land(root);
    var found = root.querySelectorAll("[data-draw-result]");
    for (var i = 0; i < found.length; i++) land(found[i]);
  }

  document.addEventListener("htmx:load", function (event) { scan(event.target); });
  document.addEventListener("DOMContentLoaded", function () { scan(document.body); });

  // htmx 2 does not swap 4xx responses by default: let form errors (422) replace their
  // form, and the app's error toast (HX-Retarget: #toast) show.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr.status === 422 || (xhr.status >= 400 && xhr.getResponseHeader("HX-Retarget"))) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
