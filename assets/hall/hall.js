/* The hall's live glue: Socket.IO /hall batches -> Dash stores, and clientside drawing.
 *
 * Batches arrive as {seq, events}; a gap in seq or a reconnect asks the server to re-sync
 * (hall-resync-store). The view keeps only the newest N cases and alerts, so a display left
 * open for days does not grow. Loaded on every page by Dash; it acts only while #hall-root is
 * on the page.
 */
(function () {
  "use strict";
  var RESYNC = "hall-resync-store", KPI_TICK = "hall-kpi-tick", CASE_PICK = "hall-case-pick";
  var STREAM_ROWS = 40;
  var KPI_THROTTLE_MS = 3000;
  var socket = null, lastSeq = null, connectedOnce = false, kpiTimer = null, lastKpi = 0;
  var REF_WIDTH = 900, REF_HEIGHT = 700;

  function h(type, props, children) {
    props = props || {};
    if (children !== undefined) { props.children = children; }
    return {type: type, namespace: "dash_html_components", props: props};
  }
  function setProps(id, props) {
    if (window.dash_clientside && window.dash_clientside.set_props) {
      window.dash_clientside.set_props(id, props);
    }
  }
  function setConn(state, cfg) {
    var el = document.getElementById("hall-conn");
    if (!el) { return; }
    el.className = "hall-conn conn-" + state;
    el.setAttribute("data-state", state);
  }
  function resync(reason) {
    setProps(RESYNC, {data: {at: Date.now(), reason: reason}});
  }
  function kpiTick() {
    var now = Date.now();
    var wait = Math.max(1000, lastKpi + KPI_THROTTLE_MS - now);
    if (kpiTimer) { return; }
    kpiTimer = setTimeout(function () {
      kpiTimer = null; lastKpi = Date.now();
      setProps(KPI_TICK, {data: lastKpi});
    }, wait);
  }

  // A batch is merged into the view at once (cheap) and drawn in the next animation frame:
  // batches that arrive before that frame share one stream render, so the page never queues
  // more renders than it can paint and the socket is read without delay. The map is not drawn
  // here at all (see markDirty below).
  var drawPending = null, alertsDirty = false, peopleDirty = false;
  function onBatch(batch) {
    window.ccHall.received += 1;
    if (window.ccHall.trace) { window.ccHall.trace(batch); }  // measurement hook (bench/)
    var gap = lastSeq !== null && batch.seq !== lastSeq + 1;
    lastSeq = batch.seq;
    recentBatches.push(Date.now());
    if (recentBatches.length > 50) { recentBatches.shift(); }
    merge(batch.events);
    var figures = false;
    for (var i = 0; i < batch.events.length; i++) {
      var ch = batch.events[i].channel;
      if (ch === "kpi" || ch === "cases" || ch === "assignments") { figures = true; }
      if (ch === "mode") { showMode(batch.events[i]); }
    }
    if (figures) { kpiTick(); }
    if (gap) { resync("gap"); }
    if (!drawPending) {
      var fallback = setTimeout(draw, 100);  // no animation frames (hidden tab): still drawn
      drawPending = window.requestAnimationFrame
        ? {frame: window.requestAnimationFrame(draw), timer: fallback} : {frame: null, timer: fallback};
    }
  }

  function merge(events) {
    var hall = window.ccHall;
    if (!hall.view || !hall.cfg) { return; }
    var merged = hall.merge(hall.view, events, hall.cfg);
    hall.view = merged.view;
    alertsDirty = alertsDirty || merged.alertsChanged;
    peopleDirty = peopleDirty || merged.peopleChanged;
  }

  // Straight into the page (no callback chain per batch): the stream rows as keyed DOM
  // updates, the alerts when they changed; the map points and people only marked dirty
  // (redrawn later, throttled).
  function draw() {
    if (!drawPending) { return; }
    clearTimeout(drawPending.timer);
    if (drawPending.frame !== null && window.cancelAnimationFrame) { window.cancelAnimationFrame(drawPending.frame); }
    drawPending = null;
    var hall = window.ccHall;
    if (!hall.view || !hall.cfg || !document.getElementById("hall-stream")) { return; }
    hall.drawStream(hall.view, hall.cfg);
    if (alertsDirty) { setProps("hall-alerts", {children: hall.alerts(hall.view, hall.cfg)}); }
    alertsDirty = false;
    hall.points(hall.view, hall.cfg);
    if (peopleDirty) { hall.people(hall.view, hall.cfg); }
    peopleDirty = false;
  }

  function showMode(ev) {
    var on = ev.mode === "wartime" || ev.active === true;
    var el = document.getElementById("hall-banner");
    if (!el) { return; }
    el.setAttribute("data-mode", on ? "wartime" : "normal");
    el.textContent = on ? (ev.title || ev.plan || "") : "";
  }

  function connect() {
    if (socket || typeof window.io !== "function") { return; }
    socket = window.io("/hall", {transports: ["websocket"], reconnection: true, reconnectionDelayMax: 5000});
    socket.on("hello", function (msg) {
      var seed = window.ccHall.seedSeq;
      lastSeq = msg.seq;
      setConn("live");
      if (connectedOnce || (seed !== null && seed !== msg.seq)) { resync("reconnect"); }
      connectedOnce = true;
    });
    socket.on("batch", onBatch);
    socket.on("disconnect", function () { setConn("off"); });
    socket.on("connect_error", function (err) {
      setConn("off");
      if (err && err.message === "unauthorized") {
        window.location.href = "/login?next=" + encodeURIComponent(window.location.pathname);
      }
    });
  }
  function disconnect() {
    if (!socket) { return; }
    socket.disconnect(); socket = null; lastSeq = null; connectedOnce = false;
  }

  // The server computes the zoom for a 900x700 map panel; walls of other sizes scale it.
  function fitZoom(layout) {
    var gd = document.getElementById("hall-map");
    var base = layout && layout.meta && layout.meta.base_zoom;
    if (!gd || !base || gd.clientWidth <= 0 || gd.clientHeight <= 0) { return null; }
    return base + Math.min(Math.log2(gd.clientWidth / REF_WIDTH), Math.log2(gd.clientHeight / REF_HEIGHT));
  }
  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      var gd = document.querySelector("#hall-map .js-plotly-plot");
      if (!gd || !window.Plotly || !gd.layout) { return; }
      var zoom = fitZoom(gd.layout);
      if (zoom !== null) { window.Plotly.relayout(gd, {"map.zoom": zoom}); }
    }, 300);
  });

  // Map updates, decoupled from the stream. A map redraw is the dearest thing on the page
  // (WebGL; software-rendered on most walls' PCs: 100-300 ms of main thread), so it never runs
  // in the task that draws the rows: a batch only marks the map dirty (points/people are built
  // from the view when the redraw runs, the newest state wins) and the redraw happens later, in
  // an idle moment, at most once per mapInterval. mapInterval adapts to the measured redraw
  // cost while batches keep coming (about 5% of the main thread), so a slow map never delays a
  // busy stream; a quiet hall (under 3 batches in the last second) gets its map within 0.5 s.
  var MAP_MIN_INTERVAL_MS = 500, MAP_MAX_INTERVAL_MS = 5000, MAP_SHARE = 20;
  var recentBatches = [];
  var pendingStyles = {}, dirty = {}, styleTimer = null, fitted = null, lastApply = 0;
  var mapInterval = MAP_MIN_INTERVAL_MS;
  function later(kind, update, trace) {
    pendingStyles[kind] = {update: update, trace: trace};
    schedule();
  }
  function markDirty(kind) {
    dirty[kind] = true;
    schedule();
  }
  function schedule() {
    if (styleTimer) { return; }
    // Never the same task as the rows: at least one frame later, after the stream is painted.
    var now = Date.now();
    recentBatches = recentBatches.filter(function (t) { return now - t < 1000; });
    var interval = recentBatches.length >= 3 ? mapInterval : MAP_MIN_INTERVAL_MS;
    var wait = Math.max(50, lastApply + interval - now);
    styleTimer = setTimeout(function () {
      if (window.requestIdleCallback) {
        window.requestIdleCallback(applyStyles, {timeout: 1000});
      } else {
        applyStyles();
      }
    }, wait);
  }
  function applyStyles() {
    styleTimer = null;
    var hall = window.ccHall;
    if (dirty.points && hall.view && hall.cfg) { later_("points", hall.pointsUpdate(hall.view, hall.cfg), 1); }
    if (dirty.people && hall.view && hall.cfg) { later_("people", hall.peopleUpdate(hall.view), 2); }
    dirty = {};
    var gd = document.querySelector("#hall-map .js-plotly-plot");
    var needed = 0;
    Object.keys(pendingStyles).forEach(function (k) { needed = Math.max(needed, pendingStyles[k].trace + 1); });
    if (!needed) { return; }
    if (!gd || !window.Plotly || !gd.data || gd.data.length < Math.max(2, needed)) {
      styleTimer = setTimeout(applyStyles, 100);
      return;
    }
    lastApply = Date.now();
    var kinds = Object.keys(pendingStyles);
    var jobs = kinds.map(function (k) { return pendingStyles[k]; });
    pendingStyles = {};
    var started = performance.now();
    var done = jobs.map(function (job) { return window.Plotly.restyle(gd, job.update, [job.trace]); });
    if (fitted !== gd) {
      fitted = gd;
      var zoom = fitZoom(gd.layout);
      if (zoom !== null) { done.push(window.Plotly.relayout(gd, {"map.zoom": zoom})); }
    }
    Promise.all(done).then(function () {
      // The WebGL draw happens in the map's next animation frame: measure up to the frame
      // after it, and keep the map at about 1/MAP_SHARE of the main thread.
      var measure = function () {
        var took = performance.now() - started;
        mapInterval = Math.min(MAP_MAX_INTERVAL_MS, Math.max(MAP_MIN_INTERVAL_MS, MAP_SHARE * took));
        hall.mapCost = took;
      };
      if (window.requestAnimationFrame) {
        window.requestAnimationFrame(function () { window.requestAnimationFrame(measure); });
      } else {
        measure();
      }
    });
  }
  function later_(kind, update, trace) { pendingStyles[kind] = {update: update, trace: trace}; }

  function pad(n) { return n < 10 ? "0" + n : "" + n; }
  function tickClock() {
    var el = document.getElementById("hall-clock");
    if (!el) { return; }
    var d = new Date();
    var local = new Date(d.getTime() + (d.getTimezoneOffset() + 480) * 60000); // Asia/Shanghai
    el.textContent = local.getFullYear() + "-" + pad(local.getMonth() + 1) + "-" + pad(local.getDate()) +
      " " + pad(local.getHours()) + ":" + pad(local.getMinutes()) + ":" + pad(local.getSeconds());
  }

  function watch() {
    var onHall = !!document.getElementById("hall-root");
    if (onHall) { connect(); } else { disconnect(); }
    tickClock();
  }

  function byNewest(a, b) {
    return (a.received_at || "") < (b.received_at || "") ? 1 : ((a.received_at || "") > (b.received_at || "") ? -1 : 0);
  }
  function hhmm(iso) {
    if (!iso) { return ""; }
    var d = new Date(iso);
    var local = new Date(d.getTime() + (d.getTimezoneOffset() + 480) * 60000);
    var now = new Date(Date.now() + (new Date().getTimezoneOffset() + 480) * 60000);
    var time = pad(local.getHours()) + ":" + pad(local.getMinutes());
    if (local.toDateString() === now.toDateString()) { return time; }
    return pad(local.getMonth() + 1) + "-" + pad(local.getDate()) + " " + time;
  }

  function hms(iso) {
    if (!iso) { return ""; }
    var d = new Date(iso);
    var local = new Date(d.getTime() + (d.getTimezoneOffset() + 480) * 60000);
    return pad(local.getHours()) + ":" + pad(local.getMinutes()) + ":" + pad(local.getSeconds());
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  // What a row shows (besides its fresh/closed class): a row is rebuilt when this changes.
  function streamSignature(c, cfg) {
    return [c.code, c.severity, c.received_at, c.title, c.category, c.township_code].join("\u0001");
  }
  function streamRow(c, cfg) {
    var li = el("li");
    li.setAttribute("data-case", c.code);
    li.setAttribute("data-case-id", String(c.id));
    li.setAttribute("tabindex", "0");
    li.setAttribute("role", "button");
    var dot = el("span", "stream-dot");
    dot.style.background = cfg.severity_colors[c.severity] || "#888";
    li.appendChild(dot);
    li.appendChild(el("span", "stream-time", hhmm(c.received_at)));
    li.appendChild(el("span", "stream-title", c.title));
    li.appendChild(el("span", "stream-cat", cfg.categories[c.category] || c.category));
    li.appendChild(el("span", "stream-area", cfg.regions[c.township_code] || c.township_code));
    return li;
  }

  // One listener for every row that opens a case card (stream and supervision board): a click
  // or Enter puts the case id into a store the server's case-card callback listens to.
  function pickCase(event) {
    var target = event.target && event.target.closest ? event.target.closest("[data-case-id]") : null;
    if (!target || !target.closest("#hall-root")) { return; }
    if (event.type === "keydown" && event.key !== "Enter" && event.key !== " ") { return; }
    if (event.type === "keydown") { event.preventDefault(); }
    setProps(CASE_PICK, {data: {id: target.getAttribute("data-case-id"), at: Date.now()}});
  }
  document.addEventListener("click", pickCase);
  document.addEventListener("keydown", pickCase);

  window.ccHall = {
    received: 0,
    seedSeq: null,
    view: null,
    cfg: null,
    // A new snapshot (first render, re-sync, drill-down): replaces the view and draws it.
    reseed: function (seed, cfg) {
      if (!seed || !cfg) { return [window.dash_clientside.no_update, window.dash_clientside.no_update]; }
      var limits = cfg.limits;
      window.ccHall.cfg = cfg;
      window.ccHall.seedSeq = seed.seq;
      var people = {};
      (seed.people || []).forEach(function (p) { people[p.user_id] = p; });
      var view = {cases: (seed.cases || []).slice(0, Math.max(limits.cases, limits.points)),
                  alerts: (seed.alerts || []).slice(0, limits.alerts), people: people};
      window.ccHall.view = view;
      window.ccHall.drawStream(view, cfg);
      window.ccHall.points(view, cfg);
      window.ccHall.people(view, cfg);
      return [seed.seq, window.ccHall.alerts(view, cfg)];
    },
    // Live events into the bounded view (newest cases by received time, newest alerts first).
    merge: function (view, events, cfg) {
      var limits = cfg.limits, maxCases = Math.max(limits.cases, limits.points);
      var cases = {}, order = [], alertsChanged = false;
      view.cases.forEach(function (c) { cases[c.id] = c; });
      var alerts = view.alerts, people = view.people || {}, peopleChanged = false;
      events.forEach(function (ev) {
        if (ev.channel === "presence") {
          // Online: keep the last known place when the event carries none; offline: gone.
          peopleChanged = true;
          if (ev.online) {
            var was = people[ev.user_id] || {};
            var p = Object.assign({}, was, ev);
            if (ev.lat === null || ev.lat === undefined) { p.lat = was.lat === undefined ? null : was.lat; p.lon = was.lon === undefined ? null : was.lon; }
            people[ev.user_id] = p;
          } else {
            delete people[ev.user_id];
          }
          return;
        }
        if (ev.case) {
          var c = Object.assign({}, ev.case);
          c.fresh = !cases[c.id];
          cases[c.id] = c;
        }
        if (ev.alert) {
          alertsChanged = true;
          alerts = alerts.filter(function (a) { return a.id !== ev.alert.id; });
          alerts.unshift(ev.alert);
        }
      });
      Object.keys(cases).forEach(function (k) { order.push(cases[k]); });
      order.sort(byNewest);
      return {view: {cases: order.slice(0, maxCases), alerts: alerts.slice(0, limits.alerts), people: people},
              alertsChanged: alertsChanged, peopleChanged: peopleChanged};
    },
    // The stream rows, drawn straight into #hall-stream (Dash renders that element empty and
    // never touches its children). Rows are keyed by case id: a batch adds the new rows and
    // moves or drops the others, instead of re-rendering 40 rows through React each frame
    // (about 30 ms of main thread on a wall PC), which was most of the event -> visible time.
    drawStream: function (view, cfg) {
      var root = document.getElementById("hall-stream");
      if (!root || !view) { return; }
      var cases = view.cases.slice(0, STREAM_ROWS);
      if (!cases.length) {
        var empty = el("div", "hall-empty", cfg.labels.empty_stream);
        root.replaceChildren(empty);
        return;
      }
      var list = root.querySelector("ul.stream-list");
      if (!list) {
        list = el("ul", "stream-list");
        list.id = "hall-stream-list";
        root.replaceChildren(list);
      }
      var rows = {};
      for (var r = list.firstElementChild; r; r = r.nextElementSibling) { rows[r.getAttribute("data-case-id")] = r; }
      var cursor = list.firstElementChild;
      cases.forEach(function (c) {
        var key = String(c.id), sig = streamSignature(c, cfg), row = rows[key];
        if (row && row.ccSig !== sig) {
          if (row === cursor) { cursor = row.nextElementSibling; }
          row.remove();
          row = null;
        }
        if (!row) { row = streamRow(c, cfg); row.ccSig = sig; }
        var cls = "stream-item" + (c.fresh ? " stream-fresh" : "") + (c.status === "closed" ? " stream-closed" : "");
        if (row.className !== cls) { row.className = cls; }
        if (row === cursor) { cursor = cursor.nextElementSibling; } else { list.insertBefore(row, cursor); }
      });
      // Everything after the last placed row has dropped out of the newest STREAM_ROWS.
      while (cursor) { var next = cursor.nextElementSibling; cursor.remove(); cursor = next; }
    },
    alerts: function (view, cfg) {
      if (!view) { return window.dash_clientside.no_update; }
      if (!view.alerts.length) { return h("Div", {className: "hall-empty", id: "hall-alerts-empty"}, cfg.labels.empty_alerts); }
      return h("Ul", {className: "alert-list"}, view.alerts.map(function (a) {
        var acked = !!a.acknowledged_at;
        return h("Li", {className: "alert-item alert-" + a.level + (acked ? " alert-acked" : ""), "data-alert": a.id}, [
          h("Span", {className: "alert-level", style: {background: cfg.alert_colors[a.level]}}, cfg.alert_levels[a.level] || a.level),
          h("Span", {className: "alert-title"}, a.title || a.message || a.kind || ""),
          h("Span", {className: "alert-area"}, cfg.regions[a.region_code] || ""),
          acked ? h("Span", {className: "alert-ackd"}, cfg.labels.acked + " " + (a.acknowledged_by || ""))
                : h("Button", {id: {type: "hall-alert-ack", id: String(a.id)}, n_clicks: 0, className: "btn btn-sm btn-outline-warning alert-ack"}, cfg.labels.ack)
        ]);
      }));
    },
    // Points and township shading are restyled in place (trace 1 and trace 0), after the
    // stream has been drawn: a full figure update would redraw the whole map in one go.
    points: function (view, cfg) {
      if (!view) { return window.dash_clientside.no_update; }
      markDirty("points");
      return window.dash_clientside.no_update;
    },
    pointsUpdate: function (view, cfg) {
      var lat = [], lon = [], color = [], size = [], ids = [], text = [];
      var open = view.cases.filter(function (c) { return c.status !== "closed" && c.lat !== null && c.lon !== null; });
      open.slice(0, cfg.limits.points).forEach(function (c) {
        lat.push(c.lat); lon.push(c.lon);
        color.push(cfg.severity_colors[c.severity] || "#888");
        size.push(cfg.severity_sizes[c.severity] || 8);
        ids.push(c.id); text.push(c.code + " " + c.title);
      });
      return {lat: [lat], lon: [lon], customdata: [ids], text: [text],
        "marker.color": [color], "marker.size": [size]};
    },
    // Online field staff: trace 2 of the map, and the count in the supervision header.
    people: function (view, cfg) {
      if (!view) { return window.dash_clientside.no_update; }
      var el = document.getElementById("hall-presence-count");
      if (el) { el.textContent = String(Object.keys(view.people || {}).length); }
      markDirty("people");
      return window.dash_clientside.no_update;
    },
    peopleUpdate: function (view) {
      var cfg = window.ccHall.cfg || {};
      var lat = [], lon = [], ids = [], text = [];
      var label = (cfg.labels && cfg.labels.last_seen) || "";
      Object.keys(view.people || {}).forEach(function (k) {
        var p = view.people[k];
        if (p.lat === null || p.lat === undefined || p.lon === null || p.lon === undefined) { return; }
        lat.push(p.lat); lon.push(p.lon); ids.push(p.user_id);
        text.push(p.name + "<br>" + label + " " + hms(p.last_seen));
      });
      return {lat: [lat], lon: [lon], customdata: [ids], text: [text]};
    },
    shade: function (counts) {
      if (!counts) { return window.dash_clientside.no_update; }
      later("shade", {z: [counts.z], zmax: [counts.zmax]}, 0);
      return window.dash_clientside.no_update;
    }
  };
  window.dash_clientside = window.dash_clientside || {};

  setInterval(watch, 500);
  document.addEventListener("DOMContentLoaded", watch);
})();
