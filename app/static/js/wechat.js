/* WeChat JS-SDK on pages opened inside WeChat (services/wechat.py signs the page's URL):
 * share cards carrying the member's invite code, the daily share task counted when WeChat confirms
 * a share, and wx.scanQRCode for the merchant console's scanner (window.PointsMallScanner.wechatScan).
 * Loaded after jweixin-1.6.5.js; configuration from this script tag's data attributes.
 */
(function () {
  "use strict";
  var tag = document.currentScript;
  var scanner = window.PointsMallScanner = window.PointsMallScanner || { wechatScan: null };
  if (!tag || !window.wx) { return; }
  var config = JSON.parse(tag.getAttribute("data-wx-config"));
  var share = {
    title: tag.getAttribute("data-share-title"),
    desc: tag.getAttribute("data-share-desc"),
    link: tag.getAttribute("data-share-link"),
    imgUrl: tag.getAttribute("data-share-image")
  };
  var productId = tag.getAttribute("data-share-product");
  var shareUrl = tag.getAttribute("data-share-url");

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; } catch (e) { return ""; }
  }

  function shared() {
    // WeChat confirmed the share: the daily share task counts product shares (engage.share).
    if (!productId || !shareUrl) { return; }
    fetch(shareUrl, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded", "X-CSRFToken": csrfToken(), "HX-Request": "true" },
      body: "product_id=" + encodeURIComponent(productId)
    });
  }

  window.wx.config({
    debug: false, appId: config.appId, timestamp: config.timestamp, nonceStr: config.nonceStr,
    signature: config.signature, jsApiList: config.jsApiList
  });
  window.wx.ready(function () {
    window.wx.updateAppMessageShareData(share);
    window.wx.updateTimelineShareData({ title: share.title, link: share.link, imgUrl: share.imgUrl });
    // The older menu APIs are the ones whose success callback means "shared" (not "card set").
    window.wx.onMenuShareAppMessage({ title: share.title, desc: share.desc, link: share.link, imgUrl: share.imgUrl, success: shared });
    window.wx.onMenuShareTimeline({ title: share.title, link: share.link, imgUrl: share.imgUrl, success: shared });
    scanner.wechatScan = function (onText, onFail) {
      window.wx.scanQRCode({
        needResult: 1, scanType: ["qrCode"],
        success: function (result) { onText(result.resultStr); },
        fail: onFail
      });
    };
  });
})();
