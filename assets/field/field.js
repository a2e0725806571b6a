/* The field page: assignments over Socket.IO /field, actions queued on the device when offline.
 *
 * Everything the server must hear is an entry in an outbox kept in localStorage, with its
 * idempotency key fixed when the person taps the button. The outbox is flushed whenever the
 * socket is connected; an entry leaves it only when the server has answered (ok or a definite
 * refusal), so a flush cut short by the network is simply repeated, and the key makes the
 * repeat change nothing on the server. A photo taken offline waits in IndexedDB (a Blob is too
 * big for localStorage) and is uploaded just before its report is sent.
 */
(function () {
  "use strict";
  var root = document.getElementById("field-app");
  if (!root) { return; } // Dash loads every assets/ script on its own pages: do nothing there.

  var STORE = "cc.field.v1";
  var params = new URLSearchParams(location.search);
  var lang = params.get("lang") || localStorage.getItem(STORE + ".lang") || "zh-CN";
  localStorage.setItem(STORE + ".lang", lang);
  var messages = {};
  var socket = null;
  var flushing = false;

  function t(key) { return messages[key] || key; }
  function $(id) { return document.getElementById(id); }
  function load() {
    try { return JSON.parse(localStorage.getItem(STORE) || "{}"); } catch (e) { return {}; }
  }
  var state = Object.assign({ token: null, user: null, lastSeq: 0, seen: [], items: {}, outbox: [] }, load());
  function save() { localStorage.setItem(STORE, JSON.stringify(state)); }
  function key() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    return Date.now().toString(36) + Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
  }
  function toast(text) {
    $("field-toast-text").textContent = text;
    $("field-toast").classList.remove("d-none");
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { $("field-toast").classList.add("d-none"); }, 4000);
  }
  function fmt(iso) {
    var d = new Date(iso);
    return d.toLocaleString(lang === "en" ? "en-GB" : "zh-CN", { timeZone: "Asia/Shanghai", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
  }
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; } else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { node.appendChild(c); } });
    return node;
  }

  // -- receiving ------------------------------------------------------------------------
  function onAssignment(msg) {
    if (typeof msg.seq !== "number") { return; }
    socket.emit("ack", { seq: msg.seq }); // repeats are acknowledged too: that stops re-sends
    if (msg.seq <= state.lastSeq || state.seen.indexOf(msg.seq) >= 0) { return; }
    state.seen.push(msg.seq);
    state.seen.sort(function (a, b) { return a - b; });
    while (state.seen.length && state.seen[0] === state.lastSeq + 1) { state.lastSeq = state.seen.shift(); }
    var a = msg.assignment;
    var known = state.items[a.id];
    if (!known || known.assignment.version <= a.version) {
      state.items[a.id] = { assignment: a, case: msg.case, kind: msg.kind, pending: known ? known.pending : null };
    }
    if (msg.kind === "renotify") { toast(t("field.renotified") + " " + (msg.case ? msg.case.title : "")); }
    save();
    render();
  }

  // -- the outbox -------------------------------------------------------------------------
  function queue(event, payload, held) {
    payload.idempotency_key = key();
    state.outbox.push({ event: event, payload: payload, held: held || [] });
    var item = state.items[payload.assignment_id];
    if (item) { item.pending = event; }
    save();
    render();
    flush();
  }
  function flush() {
    if (flushing || !socket || !socket.connected || !state.outbox.length) { return; }
    flushing = true;
    var entry = state.outbox[0];
    if (entry.held && entry.held.length) {
      // Photos first, one at a time; the report follows with their paths.
      uploadHeld(entry).then(
        function () { flushing = false; flush(); },
        function () { flushing = false; setTimeout(flush, 2000); });  // still no network
      return;
    }
    socket.timeout(10000).emit(entry.event, entry.payload, function (err, reply) {
      flushing = false;
      if (err) { setTimeout(flush, 1000); return; } // no answer: keep it, try again
      state.outbox.shift();
      var item = state.items[entry.payload.assignment_id];
      if (item) { item.pending = null; }
      if (reply && reply.ok && reply.assignment) {
        if (item) { item.assignment = reply.assignment; }
      } else if (reply && reply.error) {
        toast(reply.error.message);
      }
      save();
      render();
      flush();
    });
  }

  // -- photos kept on the phone until they can be uploaded -------------------------------
  function photoStore(mode, work) {
    return new Promise(function (resolve, reject) {
      var open = indexedDB.open("cc.field.photos", 1);
      open.onupgradeneeded = function () { open.result.createObjectStore("photos"); };
      open.onerror = function () { reject(open.error); };
      open.onsuccess = function () {
        var db = open.result, tx = db.transaction("photos", mode);
        var req = work(tx.objectStore("photos"));
        tx.oncomplete = function () { db.close(); resolve(req.result); };
        tx.onerror = function () { db.close(); reject(tx.error); };
      };
    });
  }
  function keepPhoto(file) {
    var k = key();
    return photoStore("readwrite", function (s) { return s.put(file, k); }).then(function () { return k; });
  }
  // Resolves {ok, body} when the server answered, rejects when the network did not.
  function postPhoto(blob) {
    var form = new FormData();
    form.append("photo", blob, blob.name || "photo");
    return fetch("/api/v1/field/photos", { method: "POST", body: form, headers: { Authorization: "Bearer " + state.token } })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); });
  }
  function uploadHeld(entry) {
    var k = entry.held[0];
    return photoStore("readonly", function (s) { return s.get(k); })
      .then(function (blob) { return blob ? postPhoto(blob) : { ok: true, body: null }; })  // gone: send without
      .then(function (res) {
        if (res.ok && res.body) { entry.payload.photos = (entry.payload.photos || []).concat([res.body.path]); }
        if (!res.ok) { toast(res.body.error.message); }  // refused (type, size): the report goes without it
        // Saved before the photo is dropped: a crash in between uploads it again (an unused
        // file on the server), never sends the report without a photo that was uploaded.
        entry.held.shift();
        save();
        return photoStore("readwrite", function (s) { return s.delete(k); });
      });
  }

  // -- actions --------------------------------------------------------------------------
  function position(done) {
    if (!navigator.geolocation) { done(null); return; }
    navigator.geolocation.getCurrentPosition(function (p) { done(p.coords); }, function () { done(null); }, { timeout: 5000, maximumAge: 60000 });
  }
  // done(photos, held): uploaded paths now, or the photo kept on the phone for later;
  // done(null) when the server refused the photo (the person can pick another).
  function uploadPhoto(file, done) {
    if (!file) { done([], []); return; }
    var hold = function () {
      keepPhoto(file).then(function (k) { toast(t("field.photo_offline")); done([], [k]); },
                           function () { toast(t("field.photo_unsaved")); done([], []); });
    };
    if (!navigator.onLine || !socket || !socket.connected) { hold(); return; }
    postPhoto(file).then(function (res) {
      if (!res.ok) { toast(res.body.error.message); done(null); return; }
      done([res.body.path], []);
    }, hold);
  }
  function act(id, action, form) {
    var payload = { assignment_id: id };
    if (action === "refuse") {
      payload.reason = form.querySelector("[name=reason]").value.trim();
      if (!payload.reason) { toast(t("field.reason_required")); return; }
      queue("refuse", payload);
    } else if (action === "finish") {
      payload.outcome = form.querySelector("[name=outcome]").value;
      queue("finish", payload);
    } else if (action === "report") {
      payload.text = form.querySelector("[name=text]").value.trim();
      if (!payload.text) { toast(t("field.text_required")); return; }
      var file = form.querySelector("[name=photo]").files[0];
      uploadPhoto(file, function (photos, held) {
        if (photos === null) { return; }
        payload.photos = photos;
        position(function (c) {
          if (c) { payload.lat = c.latitude; payload.lon = c.longitude; }
          queue("report", payload, held);
          form.reset();
        });
      });
    } else {
      queue(action, payload);
    }
  }

  // -- drawing --------------------------------------------------------------------------
  function button(label, cls, onClick, name) {
    var b = el("button", { type: "button", class: "btn " + cls, text: label, "data-action": name });
    b.addEventListener("click", onClick);
    return b;
  }
  function card(item) {
    var a = item.assignment;
    var c = item.case || {};
    var open = a.state === "offered" || a.state === "accepted";
    var deadline = a.state === "offered" ? a.accept_by : a.finish_by;
    var late = open && new Date(deadline) < new Date();
    var body = el("div", { class: "card-body" }, [
      el("div", { class: "d-flex justify-content-between" }, [
        el("h2", { class: "h6 m-0", text: c.title || ("#" + a.case_id) }),
        el("span", { class: "badge text-bg-" + ({ offered: "primary", accepted: "info", done: "success", refused: "secondary", cancelled: "secondary" }[a.state] || "light"), "data-state": a.state, text: t("field.state." + a.state) }),
      ]),
      el("div", { class: "small text-body-secondary", text: (c.code || "") + " · " + a.target_name }),
      a.instructions ? el("p", { class: "mb-1 mt-2", text: a.instructions }) : null,
      open ? el("div", { class: "small " + (late ? "deadline-late" : ""), text: t(a.state === "offered" ? "field.accept_by" : "field.finish_by") + " " + fmt(deadline) }) : null,
      item.pending ? el("div", { class: "small text-warning", "data-pending": item.pending, text: t("field.queued") }) : null,
    ]);
    if (c.lat && c.lon) {
      body.appendChild(el("a", { class: "small", href: "geo:" + c.lat + "," + c.lon + "?q=" + c.lat + "," + c.lon, text: t("field.navigate") }));
    }
    if (open && !item.pending) {
      var form = el("form", { class: "mt-2" });
      if (a.state === "offered") {
        form.appendChild(el("div", { class: "d-flex gap-2" }, [
          button(t("field.accept"), "btn-primary flex-fill", function () { act(a.id, "accept", form); }, "accept"),
          button(t("field.refuse"), "btn-outline-danger flex-fill", function () { act(a.id, "refuse", form); }, "refuse"),
        ]));
        form.appendChild(el("input", { class: "form-control mt-2", name: "reason", placeholder: t("field.reason") }));
      } else {
        form.appendChild(el("textarea", { class: "form-control", name: "text", rows: "2", placeholder: t("field.report_text") }));
        form.appendChild(el("input", { class: "form-control mt-2", name: "photo", type: "file", accept: "image/jpeg,image/png,image/webp", capture: "environment" }));
        form.appendChild(el("div", { class: "d-flex gap-2 mt-2" }, [
          button(t("field.report"), "btn-outline-primary flex-fill", function () { act(a.id, "report", form); }, "report"),
          el("select", { class: "form-select", name: "outcome" }, ["success", "failure", "referred"].map(function (o) { return el("option", { value: o, text: t("field.outcome." + o) }); })),
          button(t("field.finish"), "btn-success flex-fill", function () { act(a.id, "finish", form); }, "finish"),
        ]));
      }
      body.appendChild(form);
    }
    return el("div", { class: "card mb-2 card-" + a.card, id: "field-assignment-" + a.id, "data-assignment": String(a.id) }, [body]);
  }
  function render() {
    var signedIn = !!state.token;
    $("field-login").classList.toggle("d-none", signedIn);
    $("field-main").classList.toggle("d-none", !signedIn);
    $("field-logout").classList.toggle("d-none", !signedIn);
    var q = $("field-queue");
    q.classList.toggle("d-none", !state.outbox.length);
    q.textContent = t("field.queued") + " " + state.outbox.length;
    if (!signedIn) { return; }
    $("field-user").textContent = state.user ? (state.user.display_name || state.user.username) : "";
    var items = Object.keys(state.items).map(function (k) { return state.items[k]; });
    items.sort(function (x, y) {
      var ox = x.assignment.state === "offered" || x.assignment.state === "accepted" ? 0 : 1;
      var oy = y.assignment.state === "offered" || y.assignment.state === "accepted" ? 0 : 1;
      return ox - oy || y.assignment.id - x.assignment.id;
    });
    var list = $("field-list");
    list.replaceChildren.apply(list, items.map(card));
    $("field-empty").classList.toggle("d-none", items.length > 0);
  }
  function setNet(online) {
    var n = $("field-net");
    n.className = "badge " + (online ? "text-bg-success" : "text-bg-secondary");
    n.textContent = t(online ? "field.online" : "field.offline");
    n.setAttribute("data-online", online ? "1" : "0");
  }

  // -- connection -----------------------------------------------------------------------
  function connect() {
    if (socket || !state.token) { return; }
    socket = io("/field", {
      transports: ["websocket"],
      auth: function (cb) { cb({ token: state.token, last_seq: state.lastSeq, lang: lang }); },
      reconnectionDelayMax: 5000,
    });
    socket.on("connect", function () { setNet(true); flush(); });
    socket.on("disconnect", function () { setNet(false); flushing = false; });
    socket.on("connect_error", function (err) {
      setNet(false);
      var code = err && err.data && err.data.code;
      if (code && code.indexOf("token") === 0 || code === "unauthorized") { signOut(err.message); }
    });
    socket.on("assignment", onAssignment);
    socket.on("error", function (e) { if (e && e.message) { toast(e.message); } });
    // The phone's own idea of the network: go quiet at once instead of waiting for a timeout.
    window.addEventListener("offline", function () { if (socket) { socket.disconnect(); } setNet(false); });
    window.addEventListener("online", function () { if (socket && !socket.connected) { socket.connect(); } });
    setInterval(function () {
      if (socket && socket.connected) {
        position(function (c) { if (c) { socket.emit("location", { lat: c.latitude, lon: c.longitude }); } });
      }
    }, 60000);
  }
  function signOut(reason) {
    if (socket) { socket.disconnect(); socket = null; }
    state = { token: null, user: null, lastSeq: 0, seen: [], items: {}, outbox: [] };
    save();
    render();
    if (reason) { $("field-login-error").textContent = reason; }
  }
  $("field-login").addEventListener("submit", function (ev) {
    ev.preventDefault();
    $("field-login-error").textContent = "";
    fetch("/api/v1/auth/token?lang=" + encodeURIComponent(lang), {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept-Language": lang },
      body: JSON.stringify({ username: $("field-username").value.trim(), password: $("field-password").value }),
    }).then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (res) {
        if (!res.ok) { $("field-login-error").textContent = res.body.error.message; return; }
        state = { token: res.body.token, user: res.body.user, lastSeq: 0, seen: [], items: {}, outbox: [] };
        save();
        render();
        connect();
      })
      .catch(function () { $("field-login-error").textContent = t("field.offline"); });
  });
  $("field-logout").addEventListener("click", function () { signOut(""); });

  fetch("/field/messages.json?lang=" + encodeURIComponent(lang))
    .then(function (r) { return r.json(); })
    .then(function (m) { messages = m; })
    .catch(function () {})
    .then(function () {
      document.documentElement.lang = lang;
      document.querySelectorAll("[data-t]").forEach(function (n) { n.textContent = t(n.getAttribute("data-t")); });
      document.title = t("field.title");
      render();
      setNet(false);
      connect();
      window.fieldApp = { state: function () { return state; }, socket: function () { return socket; } };
    });
})();
