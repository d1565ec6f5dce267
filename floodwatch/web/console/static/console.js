// floodwatch duty console: refresh the live parts of the page every few seconds, and say
// plainly when the server is lost or the session has ended. No build step, no framework.
"use strict";
(function () {
  var lost = document.getElementById("lost");
  var signedOut = document.getElementById("signed-out");
  var lastUpdate = document.getElementById("last-update");
  var serverTime = document.getElementById("server-time");
  var live = Array.prototype.slice.call(document.querySelectorAll("[data-live]"));
  var every = 5000;
  if (live.length && live[0].dataset.every) every = 1000 * Number(live[0].dataset.every);
  var busy = false;
  var last = new Date();

  function show(el, on) { if (el) el.hidden = !on; }
  function stamp() {
    last = new Date();
    if (lastUpdate) lastUpdate.textContent = last.toLocaleTimeString();
  }
  stamp();

  function failed(status) {
    if (status === 401) { show(signedOut, true); show(lost, false); return; }
    show(lost, true);
    document.body.classList.add("is-lost");
  }
  function fine() {
    show(lost, false);
    show(signedOut, false);
    document.body.classList.remove("is-lost");
    stamp();
  }

  function refresh(el) {
    return fetch(el.dataset.live, { credentials: "same-origin", cache: "no-store",
                                    headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (!r.ok) { failed(r.status); return null; }
        return r.text().then(function (html) {
          // a form being typed into is not replaced under the person's fingers
          if (!el.contains(document.activeElement) || document.activeElement === document.body) {
            el.innerHTML = html;
          }
          var time = el.querySelector("[data-server-time]");  // the footer keeps up with it
          if (time && serverTime) serverTime.textContent = time.dataset.serverTime;
          fine();
        });
      });
  }

  function tick() {
    if (busy) return;
    busy = true;
    var work = live.length ? Promise.all(live.map(refresh))
      : fetch("/ping", { credentials: "same-origin", cache: "no-store" })
          .then(function (r) { if (r.ok) { fine(); } else { failed(r.status); } });
    work.catch(function () { failed(0); }).then(function () {
      busy = false;
      if (serverTime && !document.body.classList.contains("is-lost")) {
        serverTime.dataset.checked = String(Date.now());
      }
    });
  }
  setInterval(tick, every);
  window.addEventListener("offline", function () { failed(0); });
  window.addEventListener("online", tick);

  // buttons that need a second thought (escalate, clear, broadcast)
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      e.preventDefault();
    }
  });
})();
