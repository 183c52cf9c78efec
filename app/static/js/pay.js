/* WeChat Pay (JSAPI): the 微信支付 button opens WeChat's pay sheet with the parameters the server
 * signed (data-wxpay); whatever the outcome, the page goes to data-return, which asks WeChat for
 * the result if its notification has not arrived yet. */
(function () {
  "use strict";
  function pay(button) {
    var params = JSON.parse(button.getAttribute("data-wxpay"));
    var back = button.getAttribute("data-return");
    button.disabled = true;
    window.WeixinJSBridge.invoke("getBrandWCPayRequest", params, function () {
      window.location.href = back;
    });
  }
  function init() {
    var button = document.querySelector("[data-wxpay]");
    if (!button) { return; }
    button.addEventListener("click", function () {
      if (window.WeixinJSBridge) { pay(button); return; }
      document.addEventListener("WeixinJSBridgeReady", function () { pay(button); }, { once: true });
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
