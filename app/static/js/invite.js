/* Invite page: the copy button puts the invite link on the clipboard. */
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var input = document.querySelector(button.getAttribute("data-copy"));
    input.select();
    var done = function () { button.textContent = button.getAttribute("data-done"); };
    if (navigator.clipboard) { navigator.clipboard.writeText(input.value).then(done, function () {}); }
    else { try { document.execCommand("copy"); done(); } catch (e) {} }
  });
})();
