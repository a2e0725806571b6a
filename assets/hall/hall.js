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
  var STREAM_ROWS = 40, FRESH_MS = 3000, freshTimer = null;
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
  // more renders than it can paint and the socket is read without delay. The map itself is not
  // redrawn here: points and people go to the canvas over it, shading later (see schedule).
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
  // updates, the alerts when they changed; the case points and field staff on the map's canvas
  // (in the next animation frame).
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
    window.ccHall.socket = socket;  // for operators' consoles and tests; nothing else uses it
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
    window.ccHall.socket = null;
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

  // Map updates, decoupled from the stream. A WebGL map redraw is the dearest thing on the page:
  // without a GPU (software GL: headless, many wall PCs) every map frame blocks the main thread
  // for 100-250 ms, and one update takes several frames. So the live case points are not drawn
  // by the map at all, nor are the field staff (a 2D canvas over it, see "Case points"
  // below); only the township shading goes through WebGL. Its updates never run in the task that
  // draws the rows: a batch only marks them dirty, and the redraw happens later, in an idle
  // moment, at most once per mapInterval. mapInterval follows the measured cost of the last
  // redraw (every long task in the 2 s after it), keeping the map at about 1/MAP_SHARE of the
  // main thread while batches keep coming, so a slow map never delays a busy stream; a quiet
  // hall (under 3 batches in the last second) gets its map within 0.5 s.
  var MAP_MIN_INTERVAL_MS = 500, MAP_MAX_INTERVAL_MS = 30000, MAP_SHARE = 20, MAP_SETTLE_MS = 2000;
  var longTasks = [];
  if (window.PerformanceObserver) {
    try {
      new window.PerformanceObserver(function (list) {
        list.getEntries().forEach(function (e) { longTasks.push([e.startTime, e.duration]); });
        if (longTasks.length > 200) { longTasks.splice(0, longTasks.length - 200); }
      }).observe({type: "longtask"});
    } catch (err) { longTasks = null; }  // no long-task timing: measure two frames instead
  } else {
    longTasks = null;
  }
  var recentBatches = [];
  var pendingStyles = {}, styleTimer = null, fitted = null, lastApply = 0;
  var mapInterval = MAP_MIN_INTERVAL_MS;
  function later(kind, update, trace) {
    pendingStyles[kind] = {update: update, trace: trace};
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
      var settle = function (took) {
        mapInterval = Math.min(MAP_MAX_INTERVAL_MS, Math.max(MAP_MIN_INTERVAL_MS, MAP_SHARE * took));
        hall.mapCost = took;
      };
      if (longTasks) {
        // The frames a redraw costs come after the restyle, each its own task: add up every
        // long task that started in the settling time (the stream's own are short).
        setTimeout(function () {
          var took = 0;
          longTasks.forEach(function (t) { if (t[0] >= started - 1 && t[0] < started + MAP_SETTLE_MS) { took += t[1]; } });
          settle(Math.max(took, 1));
        }, MAP_SETTLE_MS);
      } else if (window.requestAnimationFrame) {
        window.requestAnimationFrame(function () { window.requestAnimationFrame(function () { settle(performance.now() - started); }); });
      } else {
        settle(performance.now() - started);
      }
    });
  }

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

  // Case points. Up to cfg.limits.points open cases, drawn on a canvas laid over the map's
  // own: a batch redraws them in about a millisecond, where a WebGL restyle costs the map
  // several software-rendered frames. The canvas follows the map (move, zoom, resize) through
  // maplibre's events and lets the mouse through to it; a click on a point opens the case card
  // (and does not reach the map, so it does not drill down), hovering shows its code and title.
  // The online field staff with a known place are drawn on the same canvas, on top, as
  // diamonds in their own colour; hovering one shows the name and when they were last seen.
  var overlay = {map: null, canvas: null, tip: null, points: [], people: [], frame: null};
  function liveMap() {
    var gd = document.querySelector("#hall-map .js-plotly-plot");
    var sub = gd && gd._fullLayout && gd._fullLayout.map && gd._fullLayout.map._subplot;
    return sub && sub.map ? sub.map : null;
  }
  function attachOverlay() {
    var map = liveMap();
    if (!map) { return null; }
    if (overlay.map === map && overlay.canvas && overlay.canvas.isConnected) { return map; }
    var host = map.getContainer();
    overlay.map = map;
    overlay.canvas = el("canvas", "hall-points");
    overlay.canvas.id = "hall-points";
    overlay.tip = el("div", "hall-point-tip");
    overlay.tip.hidden = true;
    host.appendChild(overlay.canvas);
    host.appendChild(overlay.tip);
    map.on("move", requestPoints);
    map.on("resize", requestPoints);
    // Capture: before maplibre (on an inner element) turns the click into a township click.
    host.addEventListener("click", onPointClick, true);
    host.addEventListener("mousemove", onPointHover, {passive: true});
    host.addEventListener("mouseleave", function () {
      overlay.tip.hidden = true;
      var box = document.getElementById("hall-map");
      if (box) { box.classList.remove("point-hover"); }
    });
    return map;
  }
  function setPoints(view, cfg) {
    var open = view.cases.filter(function (c) {
      return c.status !== "closed" && c.lat !== null && c.lat !== undefined && c.lon !== null && c.lon !== undefined;
    });
    overlay.points = open.slice(0, cfg.limits.points).map(function (c) {
      return {id: c.id, lat: c.lat, lon: c.lon, r: (cfg.severity_sizes[c.severity] || 8) / 2,
              color: cfg.severity_colors[c.severity] || "#888", text: c.code + " " + c.title};
    });
    requestPoints();
  }
  function setPeople(view, cfg) {
    var label = (cfg.labels && cfg.labels.last_seen) || "";
    overlay.people = Object.keys(view.people || {}).map(function (k) { return view.people[k]; })
      .filter(function (p) { return p.lat !== null && p.lat !== undefined && p.lon !== null && p.lon !== undefined; })
      .map(function (p) {
        return {id: p.user_id, person: true, lat: p.lat, lon: p.lon, r: (cfg.presence_size || 7) / 2 + 1,
                color: cfg.presence_color || "#22b8cf", text: p.name + " · " + label + " " + hms(p.last_seen)};
      });
    requestPoints();
  }
  function requestPoints() {
    if (overlay.frame !== null) { return; }
    overlay.frame = window.requestAnimationFrame ? window.requestAnimationFrame(drawPoints) : setTimeout(drawPoints, 16);
  }
  function drawPoints() {
    overlay.frame = null;
    var map = attachOverlay();
    if (!map) { if (overlay.points.length || overlay.people.length) { setTimeout(requestPoints, 200); } return; }  // map not drawn yet
    var host = map.getContainer(), canvas = overlay.canvas;
    var w = host.clientWidth, hgt = host.clientHeight, ratio = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(hgt * ratio)) {
      canvas.width = Math.round(w * ratio); canvas.height = Math.round(hgt * ratio);
      canvas.style.width = w + "px"; canvas.style.height = hgt + "px";
    }
    var g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, w, hgt);
    g.lineWidth = 1;
    g.strokeStyle = "rgba(0, 0, 0, 0.55)";
    // Oldest first, so the newest cases are drawn on top.
    for (var i = overlay.points.length - 1; i >= 0; i--) {
      var p = overlay.points[i], xy = map.project([p.lon, p.lat]);
      p.x = xy.x; p.y = xy.y;
      if (xy.x < -p.r || xy.y < -p.r || xy.x > w + p.r || xy.y > hgt + p.r) { continue; }
      g.globalAlpha = 0.95;
      g.fillStyle = p.color;
      g.beginPath();
      g.arc(xy.x, xy.y, p.r, 0, 2 * Math.PI);
      g.fill();
      g.stroke();
    }
    // Field staff over the cases: a diamond, so they differ by shape as well as by colour.
    g.strokeStyle = "#ffffff";
    g.lineWidth = 1.5;
    overlay.people.forEach(function (p) {
      var xy = map.project([p.lon, p.lat]);
      p.x = xy.x; p.y = xy.y;
      if (xy.x < -p.r || xy.y < -p.r || xy.x > w + p.r || xy.y > hgt + p.r) { return; }
      g.globalAlpha = 0.95;
      g.fillStyle = p.color;
      g.beginPath();
      g.moveTo(xy.x, xy.y - p.r - 1); g.lineTo(xy.x + p.r + 1, xy.y);
      g.lineTo(xy.x, xy.y + p.r + 1); g.lineTo(xy.x - p.r - 1, xy.y);
      g.closePath();
      g.fill();
      g.stroke();
    });
    g.globalAlpha = 1;
    canvas.setAttribute("data-points", String(overlay.points.length));
    canvas.setAttribute("data-people", String(overlay.people.length));
  }
  // Where the mark of ``id`` in ``marks`` (overlay.points or overlay.people) is drawn, in client
  // (viewport) pixels, or null when it is not.
  function clientPosition(marks, id) {
    var map = attachOverlay();
    var p = marks.filter(function (q) { return q.id === id; })[0];
    if (!map || !p) { return null; }
    var xy = map.project([p.lon, p.lat]), rect = map.getContainer().getBoundingClientRect();
    return {x: rect.left + xy.x, y: rect.top + xy.y};
  }
  // The point under client position (x, y): the newest within its radius plus a little slack.
  function pointAt(x, y) {
    var map = overlay.map;
    if (!map || !overlay.canvas) { return null; }
    var rect = map.getContainer().getBoundingClientRect(), px = x - rect.left, py = y - rect.top;
    // People are drawn on top: they are found first.
    var drawn = overlay.people.concat(overlay.points);
    for (var i = 0; i < drawn.length; i++) {
      var p = drawn[i];
      if (p.x === undefined) { continue; }
      var reach = p.r + 4;
      if ((p.x - px) * (p.x - px) + (p.y - py) * (p.y - py) <= reach * reach) { return p; }
    }
    return null;
  }
  function onPointClick(event) {
    var p = pointAt(event.clientX, event.clientY);
    if (!p || p.person) { return; }
    event.stopPropagation();
    event.preventDefault();
    setProps(CASE_PICK, {data: {id: String(p.id), at: Date.now()}});
  }
  function onPointHover(event) {
    var p = pointAt(event.clientX, event.clientY), tip = overlay.tip;
    if (!tip) { return; }
    // Over a point or a person, the map's own hover label (the township under them) would
    // overlap this one: hall.css hides it while the class is on.
    var box = document.getElementById("hall-map");
    if (box) { box.classList.toggle("point-hover", !!p); }
    if (!p) { tip.hidden = true; return; }
    tip.textContent = p.text;
    tip.style.left = (p.x + p.r + 6) + "px";
    tip.style.top = (p.y - 10) + "px";
    tip.hidden = false;
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
      var rows = {}, now = Date.now(), anyFresh = false;
      for (var r = list.firstElementChild; r; r = r.nextElementSibling) { rows[r.getAttribute("data-case-id")] = r; }
      var cursor = list.firstElementChild;
      cases.forEach(function (c) {
        var key = String(c.id), sig = streamSignature(c, cfg), row = rows[key];
        if (row && row.ccSig !== sig) {
          if (row === cursor) { cursor = row.nextElementSibling; }
          row.remove();
          row = null;
        }
        if (!row) {
          row = streamRow(c, cfg);
          row.ccSig = sig;
          row.ccBorn = c.fresh ? now : 0;  // arrived live (not from a snapshot): highlighted
        }
        // A still highlight for FRESH_MS, not a CSS animation: at tens of rows a second an
        // animated background would repaint the panel every frame, for nothing anyone can read.
        var fresh = row.ccBorn > 0 && now - row.ccBorn < FRESH_MS;
        anyFresh = anyFresh || fresh;
        var cls = "stream-item" + (fresh ? " stream-fresh" : "") + (c.status === "closed" ? " stream-closed" : "");
        if (row.className !== cls) { row.className = cls; }
        if (row === cursor) { cursor = cursor.nextElementSibling; } else { list.insertBefore(row, cursor); }
      });
      // Everything after the last placed row has dropped out of the newest STREAM_ROWS.
      while (cursor) { var next = cursor.nextElementSibling; cursor.remove(); cursor = next; }
      // A quiet stream still loses its highlights on time.
      clearTimeout(freshTimer);
      if (anyFresh) { freshTimer = setTimeout(function () { window.ccHall.drawStream(window.ccHall.view, window.ccHall.cfg); }, FRESH_MS); }
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
    // The case points: a 2D canvas over the map (see "Case points"), redrawn in the next frame.
    points: function (view, cfg) {
      if (!view) { return window.dash_clientside.no_update; }
      setPoints(view, cfg);
      return window.dash_clientside.no_update;
    },
    // The case ids drawn on the map now, newest first (tests and tools read the map through it).
    mapPointIds: function () {
      return overlay.points.map(function (p) { return p.id; });
    },
    // Where case ``id`` is drawn, in client (viewport) pixels, or null when it is not.
    mapPointAt: function (id) { return clientPosition(overlay.points, id); },
    // Online field staff: drawn on the map's canvas (see "Case points"), and the count in the
    // supervision header.
    people: function (view, cfg) {
      if (!view) { return window.dash_clientside.no_update; }
      var el = document.getElementById("hall-presence-count");
      if (el) { el.textContent = String(Object.keys(view.people || {}).length); }
      setPeople(view, cfg);
      return window.dash_clientside.no_update;
    },
    // The field staff drawn on the map now, by user id, with what hovering them shows.
    mapPeople: function () {
      return overlay.people.map(function (p) { return {id: p.id, text: p.text}; });
    },
    // Where field worker ``id`` is drawn, in client (viewport) pixels, or null when they are not.
    mapPersonAt: function (id) { return clientPosition(overlay.people, id); },
    // The tiles' figures from a refresh, written in place: id -> [value, year-on-year, direction].
    // Dash rendered the tiles once and never re-renders them, so this text stays.
    kpis: function (values) {
      if (!values) { return window.dash_clientside.no_update; }
      Object.keys(values).forEach(function (id) {
        var v = values[id], node = document.getElementById(id), yoy = document.getElementById(id + "-yoy");
        if (node && node.textContent !== v[0]) { node.textContent = v[0]; }
        if (yoy) {
          if (yoy.textContent !== v[1]) { yoy.textContent = v[1]; }
          var cls = "kpi-yoy kpi-" + v[2];
          if (yoy.className !== cls) { yoy.className = cls; }
        }
      });
      return window.dash_clientside.no_update;
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
