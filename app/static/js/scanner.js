/* QR scanner for the counter. Markup contract:
 *   <button type="button" data-scan-into="#input-id" hidden
 *           data-scan-status="#status-id" data-scan-title="…" data-scan-cancel="…"
 *           data-scan-denied="…" data-scan-unavailable="…">
 * The button (hidden until this script finds a camera API) opens the rear camera; the first QR
 * code read goes into the input, and the input's form is submitted (requestSubmit, so htmx sees
 * it). Decoding: the browser's BarcodeDetector where it reads QR codes, otherwise jsQR, fetched
 * on demand from the URL in this script tag's data-decoder. The button's data-scan-engine says
 * which one ran. Inside WeChat, window.PointsMallScanner.wechatScan (set by the WeChat JS-SDK
 * code) is used instead of the camera when present.
 */
(function () {
  "use strict";

  var decoderSrc = document.currentScript && document.currentScript.getAttribute("data-decoder");
  var SCAN_EVERY_MS = 150;
  var MAX_SIDE = 720; // frames are scaled down to this for jsQR: fast enough on old phones

  // Hook for the WeChat issue: function (onText, onFail) calling wx.scanQRCode({needResult: 1, ...});
  // when it is a function and the page runs inside WeChat, it replaces the browser camera.
  var api = window.PointsMallScanner = window.PointsMallScanner || { wechatScan: null };

  function inWeChat() { return /MicroMessenger/i.test(navigator.userAgent); }
  function hasCamera() { return !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia); }

  function showStatus(button, text) {
    var status = document.querySelector(button.getAttribute("data-scan-status") || "");
    if (status) { status.textContent = text; status.hidden = !text; }
  }

  function deliver(button, text) {
    var input = document.querySelector(button.getAttribute("data-scan-into"));
    if (!input) { return; }
    input.value = text;
    var form = input.form;
    if (!form) { return; }
    if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
  }

  var jsQRLoading = null;
  function loadJsQR() {
    if (window.jsQR) { return Promise.resolve(window.jsQR); }
    if (!jsQRLoading) {
      jsQRLoading = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = decoderSrc;
        script.onload = function () { resolve(window.jsQR); };
        script.onerror = function () { jsQRLoading = null; reject(new Error("decoder")); };
        document.head.appendChild(script);
      });
    }
    return jsQRLoading;
  }

  // A function (video) -> Promise of the QR text or null, and the engine's name.
  function makeDecoder() {
    var native = window.BarcodeDetector && window.BarcodeDetector.getSupportedFormats
      ? window.BarcodeDetector.getSupportedFormats().catch(function () { return []; })
      : Promise.resolve([]);
    return native.then(function (formats) {
      if (formats.indexOf("qr_code") >= 0) {
        var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
        return { engine: "barcode-detector", decode: function (video) {
          return detector.detect(video).then(function (codes) { return codes.length ? codes[0].rawValue : null; });
        } };
      }
      return loadJsQR().then(function (jsQR) {
        var canvas = document.createElement("canvas");
        var context = canvas.getContext("2d", { willReadFrequently: true });
        return { engine: "jsqr", decode: function (video) {
          var w = video.videoWidth, h = video.videoHeight;
          if (!w || !h) { return Promise.resolve(null); }
          var scale = Math.min(1, MAX_SIDE / Math.max(w, h));
          canvas.width = Math.round(w * scale);
          canvas.height = Math.round(h * scale);
          context.drawImage(video, 0, 0, canvas.width, canvas.height);
          var image = context.getImageData(0, 0, canvas.width, canvas.height);
          var found = jsQR(image.data, image.width, image.height, { inversionAttempts: "attemptBoth" });
          return Promise.resolve(found && found.data ? found.data : null);
        } };
      });
    });
  }

  function buildOverlay(button) {
    var overlay = document.createElement("div");
    overlay.className = "scanner-overlay";
    overlay.setAttribute("role", "dialog");
    overlay.setAttribute("aria-modal", "true");
    var stage = document.createElement("div");
    stage.className = "scanner-stage";
    var video = document.createElement("video");
    video.className = "scanner-video";
    video.setAttribute("playsinline", "");
    video.setAttribute("autoplay", "");
    video.muted = true;
    var frame = document.createElement("div");
    frame.className = "scanner-frame";
    var hint = document.createElement("p");
    hint.className = "scanner-hint";
    hint.textContent = button.getAttribute("data-scan-title") || "";
    stage.append(video, frame, hint);
    var bar = document.createElement("div");
    bar.className = "scanner-bar";
    var cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "btn btn-ghost";
    cancel.textContent = button.getAttribute("data-scan-cancel") || "×";
    bar.appendChild(cancel);
    overlay.append(stage, bar);
    document.body.appendChild(overlay);
    return { overlay: overlay, video: video, cancel: cancel };
  }

  function scanWithCamera(button) {
    var stream = null, timer = null, done = false, view = null;

    function stop() {
      done = true;
      if (timer) { clearTimeout(timer); }
      if (stream) { stream.getTracks().forEach(function (track) { track.stop(); }); }
      if (view) { view.overlay.remove(); }
      document.body.classList.remove("scanner-open");
      button.disabled = false;
    }

    button.disabled = true;
    showStatus(button, "");
    navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: "environment" } }, audio: false })
      .then(function (media) {
        stream = media;
        view = buildOverlay(button);
        document.body.classList.add("scanner-open");
        view.cancel.addEventListener("click", stop);
        view.video.srcObject = stream;
        var played = view.video.play();
        return Promise.all([makeDecoder(), played]);
      })
      .then(function (ready) {
        var decoder = ready[0];
        button.setAttribute("data-scan-engine", decoder.engine);
        function tick() {
          if (done) { return; }
          decoder.decode(view.video).then(function (text) {
            if (done) { return; }
            if (text) { stop(); deliver(button, text.trim()); } else { timer = setTimeout(tick, SCAN_EVERY_MS); }
          }, function () { timer = setTimeout(tick, SCAN_EVERY_MS); });
        }
        tick();
      })
      .catch(function (error) {
        var denied = error && (error.name === "NotAllowedError" || error.name === "SecurityError");
        stop();
        showStatus(button, button.getAttribute(denied ? "data-scan-denied" : "data-scan-unavailable") || "");
        var input = document.querySelector(button.getAttribute("data-scan-into"));
        if (input) { input.focus(); }
      });
  }

  function start(button) {
    if (inWeChat() && typeof api.wechatScan === "function") {
      api.wechatScan(function (text) { deliver(button, String(text || "").trim()); }, function () {
        showStatus(button, button.getAttribute("data-scan-unavailable") || "");
      });
      return;
    }
    scanWithCamera(button);
  }

  function init() {
    var buttons = document.querySelectorAll("[data-scan-into]");
    Array.prototype.forEach.call(buttons, function (button) {
      if (!hasCamera() && !(inWeChat() && typeof api.wechatScan === "function")) { return; }
      button.hidden = false;
      button.addEventListener("click", function () { start(button); });
    });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
}());
