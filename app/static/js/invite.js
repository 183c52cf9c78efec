/* Copy buttons: data-copy names an input whose value goes to the clipboard (the invite link),
   data-copy-text carries the text itself (a coupon code). */
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy], [data-copy-text]");
    if (!button) return;
    var input = button.hasAttribute("data-copy") ? document.querySelector(button.getAttribute("data-copy")) : null;
    var text = input ? input.value : button.getAttribute("data-copy-text");
    if (input) input.select();
    var done = function () { button.textContent = button.getAttribute("data-done"); };
    if (navigator.clipboard) { navigator.clipboard.writeText(text).then(done, function () {}); }
    else if (input) { try { document.execCommand("copy"); done(); } catch (e) {} }
  });
})();
