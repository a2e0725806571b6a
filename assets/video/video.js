/* Video wall, camera tiles and video dispatch calls (WebRTC against the streams component).
 *
 * Dash renders plain elements carrying data-cc-* attributes; this script finds them (also when
 * Dash draws them later) and brings them to life:
 *   [data-cc-video-wall]    a wall: data-layout (1|4|9|16), data-cameras (ids), data-tour (s)
 *   [data-cc-camera-list]   a camera list (drag onto a tile, or click to add)
 *   [data-cc-nearest]       a button: open the cameras nearest data-lon/data-lat on data-wall
 *   [data-cc-commander]     a commander's call panel (stations, call, hang up, record)
 *   [data-cc-station]       a station's answering panel (ring, accept, decline)
 * No STUN/TURN servers: iceServers is always [].
 */
(function () {
  "use strict";

  var RTC_CONFIG = { iceServers: [] };
  var LAYOUTS = [1, 4, 9, 16];
  var walls = {};
  var socket = null;

  function lang() {
    var l = (document.documentElement.lang || "zh-CN").toLowerCase();
    return l.indexOf("en") === 0 ? "en" : "zh-CN";
  }

  var TEXT = {
    "zh-CN": {
      connecting: "连接中…", live: "实时", offline: "离线", empty: "拖入摄像头",
      call: "呼叫", hangup: "挂断", record: "录制", stopRecord: "停止录制",
      ringing: "来电：", accept: "接听", decline: "拒绝", waiting: "等待呼叫",
      recording: "本次通话正在录音录像", ended: "通话已结束", tour: "轮巡",
      inCall: "通话中", noStation: "请选择乡镇站点", error: "出错：",
      snapshot: "抓拍并附到案件", snapshotSaved: "已抓拍", noRecordings: "暂无录像"
    },
    en: {
      connecting: "Connecting…", live: "Live", offline: "Offline", empty: "Drop a camera",
      call: "Call", hangup: "Hang up", record: "Record", stopRecord: "Stop recording",
      ringing: "Incoming call: ", accept: "Accept", decline: "Decline", waiting: "Waiting for calls",
      recording: "This call is being recorded", ended: "Call ended", tour: "Tour",
      inCall: "In call", noStation: "Choose a station", error: "Error: ",
      snapshot: "Snapshot to the case", snapshotSaved: "Snapshot saved", noRecordings: "No recordings"
    }
  };

  // Texts from the server's message catalog (data-i18n on the Dash elements) win over the
  // built-in ones, which only cover a page drawn without the builders.
  var UI = {};

  function tr(key) {
    if (UI[key]) return UI[key];
    var pack = TEXT[lang()] || TEXT["zh-CN"];
    return pack[key] || key;
  }

  function learnTexts(node) {
    if (!node.dataset || !node.dataset.i18n) return;
    try {
      var texts = JSON.parse(node.dataset.i18n);
      Object.keys(texts).forEach(function (k) { UI[k] = texts[k]; });
    } catch (e) { /* malformed: keep the built-in texts */ }
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function api(method, url, body) {
    var opts = { method: method, credentials: "same-origin", headers: {} };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(url, opts).then(function (r) {
      if (r.status === 204) return null;
      return r.json().then(function (data) {
        if (!r.ok) {
          var err = new Error((data && data.error && data.error.message) || r.statusText);
          err.code = data && data.error && data.error.code;
          throw err;
        }
        return data;
      });
    });
  }

  function gathered(pc) {
    // aiortc takes the offer with all candidates (no trickle); host candidates come quickly.
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise(function (resolve) {
      var done = function () {
        if (pc.iceGatheringState === "complete") {
          pc.removeEventListener("icegatheringstatechange", done);
          resolve();
        }
      };
      pc.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, 3000);
    });
  }

  var configPromise = null;

  function videoConfig() {
    if (!configPromise) {
      configPromise = api("GET", "/api/v1/video/config").catch(function () {
        configPromise = null;
        return { mode: "embedded", offer_url: "/api/v1/video/offer" };
      });
    }
    return configPromise;
  }

  function getSocket() {
    if (socket || typeof window.io !== "function") return socket;
    socket = window.io("/video", { transports: ["websocket"] });
    return socket;
  }

  // ------------------------------------------------------------------ viewers
  function Viewer(cameraId, size, video) {
    this.cameraId = cameraId;
    this.size = size;
    this.video = video;
    this.pc = null;
    this.viewerId = null;
    this.closed = false;
  }

  Viewer.prototype.open = function () {
    var self = this;
    var pc = new RTCPeerConnection(RTC_CONFIG);
    self.pc = pc;
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.ontrack = function (ev) {
      self.video.srcObject = ev.streams[0] || new MediaStream([ev.track]);
    };
    pc.onconnectionstatechange = function () {
      if (pc.connectionState === "failed" && !self.closed && self.onFailed) self.onFailed();
    };
    return pc.createOffer()
      .then(function (offer) { return pc.setLocalDescription(offer); })
      .then(function () { return gathered(pc); })
      .then(function () { return videoConfig(); })
      .then(function (config) {
        if (self.closed) throw new Error("closed");
        var sdp = pc.localDescription.sdp;
        if (config.mode !== "ticket") {
          self.offerUrl = config.offer_url;
          return api("POST", config.offer_url, {
            camera_id: self.cameraId, sdp: sdp, type: "offer", size: self.size
          });
        }
        // Video in a process of its own: a signed ticket from here, the offer over there.
        return api("POST", "/api/v1/video/tickets", { camera_id: self.cameraId, size: self.size })
          .then(function (t) {
            self.offerUrl = t.offer_url;
            return api("POST", t.offer_url, { ticket: t.ticket, sdp: sdp, type: "offer" });
          });
      })
      .then(function (answer) {
        self.viewerId = answer.viewer_id;
        if (self.closed) { self.close(); return; }
        return pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
      });
  };

  Viewer.prototype.close = function () {
    this.closed = true;
    if (this.pc) { try { this.pc.close(); } catch (e) { /* already closed */ } }
    if (this.viewerId) {
      var base = (this.offerUrl || "/api/v1/video/offer").replace(/offer$/, "viewers/");
      var url = base + this.viewerId;
      if (navigator.sendBeacon) navigator.sendBeacon(url);
      else fetch(url, { method: "DELETE", credentials: "same-origin", keepalive: true });
      this.viewerId = null;
    }
  };

  Viewer.prototype.framesDecoded = function () {
    if (!this.pc) return Promise.resolve(0);
    return this.pc.getStats().then(function (report) {
      var n = 0;
      report.forEach(function (s) {
        if (s.type === "inbound-rtp" && s.kind === "video") n += s.framesDecoded || 0;
      });
      return n;
    });
  };

  // ------------------------------------------------------------------ tiles and walls
  function Tile(wall, index) {
    var self = this;
    this.wall = wall;
    this.index = index;
    this.cameraId = null;
    this.viewer = null;
    this.node = el("div", "ccv-tile");
    this.node.dataset.index = String(index);
    this.video = el("video", "ccv-video");
    this.video.autoplay = true;
    this.video.muted = true;
    this.video.playsInline = true;
    this.label = el("div", "ccv-label", tr("empty"));
    this.status = el("div", "ccv-status");
    this.node.appendChild(this.video);
    this.node.appendChild(this.label);
    this.node.appendChild(this.status);
    if (wall.root.dataset.caseId) {
      var snap = el("button", "ccv-snap-btn", "📷");
      snap.type = "button";
      snap.title = tr("snapshot");
      snap.addEventListener("click", function (ev) {
        ev.stopPropagation();
        if (!self.cameraId) return;
        api("POST", "/api/v1/cameras/" + self.cameraId + "/snapshots",
          { case_id: parseInt(wall.root.dataset.caseId, 10) })
          .then(function () { self.status.textContent = tr("snapshotSaved"); })
          .catch(function (err) { self.status.textContent = tr("error") + err.message; });
      });
      this.node.appendChild(snap);
    }
    this.node.addEventListener("dragover", function (ev) { ev.preventDefault(); });
    this.node.addEventListener("drop", function (ev) {
      ev.preventDefault();
      var id = ev.dataTransfer.getData("text/cc-camera") || ev.dataTransfer.getData("text/plain");
      if (id) self.show(id, ev.dataTransfer.getData("text/cc-camera-name") || id);
    });
    this.node.addEventListener("dblclick", function () { wall.toggleFocus(self); });
  }

  Tile.prototype.show = function (cameraId, name, size) {
    var self = this;
    var full = this.wall.focused === this || this.wall.root.dataset.size === "full";
    size = size || (full ? "full" : "tile");
    if (this.cameraId === cameraId && this.viewer && this.viewer.size === size) return;
    this.clear();
    this.cameraId = cameraId;
    this.name = name || cameraId;
    this.node.dataset.cameraId = cameraId;
    this.label.textContent = this.name;
    this.status.textContent = tr("connecting");
    this.status.className = "ccv-status ccv-connecting";
    var viewer = new Viewer(cameraId, size, this.video);
    this.viewer = viewer;
    viewer.onFailed = function () {
      // The connection broke (network, server restart): try again in a few seconds.
      if (self.viewer !== viewer) return;
      self.status.textContent = tr("connecting");
      self.status.className = "ccv-status ccv-connecting";
      setTimeout(function () {
        if (self.viewer === viewer && self.cameraId === cameraId) {
          self.viewer = null;
          self.show(cameraId, self.name, size);
        }
      }, 3000);
    };
    viewer.open().then(function () {
      if (self.viewer === viewer) {
        self.status.textContent = tr("live");
        self.status.className = "ccv-status ccv-live";
      }
    }).catch(function (err) {
      if (self.viewer === viewer && !viewer.closed) {
        self.status.textContent = tr("error") + err.message;
        self.status.className = "ccv-status ccv-error";
      }
    });
  };

  Tile.prototype.clear = function () {
    if (this.viewer) this.viewer.close();
    this.viewer = null;
    this.cameraId = null;
    this.video.srcObject = null;
    delete this.node.dataset.cameraId;
    this.label.textContent = tr("empty");
    this.status.textContent = "";
  };

  function Wall(root) {
    var self = this;
    this.root = root;
    this.id = root.id || ("wall-" + Math.random().toString(36).slice(2));
    this.layout = parseInt(root.dataset.layout || "4", 10);
    if (LAYOUTS.indexOf(this.layout) < 0) this.layout = 4;
    this.tiles = [];
    this.focused = null;
    this.tourTimer = null;
    this.tourCameras = [];
    this.tourPage = 0;
    root.classList.add("ccv-wall");
    var bar = el("div", "ccv-toolbar");
    LAYOUTS.forEach(function (n) {
      var b = el("button", "ccv-layout-btn", String(n));
      b.type = "button";
      b.dataset.layout = String(n);
      b.addEventListener("click", function () { self.setLayout(n); });
      bar.appendChild(b);
    });
    var tour = el("button", "ccv-tour-btn", tr("tour"));
    tour.type = "button";
    tour.addEventListener("click", function () {
      if (self.tourTimer) self.stopTour(); else self.startTour(self.tourSeconds || 15);
    });
    bar.appendChild(tour);
    this.grid = el("div", "ccv-grid");
    root.appendChild(bar);
    root.appendChild(this.grid);
    this.setLayout(this.layout);
    var ids = (root.dataset.cameras || "").split(",").filter(Boolean);
    var names = (root.dataset.names || "").split("|");
    ids.forEach(function (id, i) { if (self.tiles[i]) self.tiles[i].show(id, names[i] || id); });
    this.tourSeconds = parseInt(root.dataset.tour || "0", 10);
    if (this.tourSeconds > 0) this.startTour(this.tourSeconds);
    else if (!ids.length && root.dataset.autofill !== "0") this.autofill();
  }

  Wall.prototype.setLayout = function (n) {
    this.layout = n;
    var side = Math.round(Math.sqrt(n));
    this.root.dataset.layout = String(n);
    this.grid.style.gridTemplateColumns = "repeat(" + side + ", 1fr)";
    while (this.tiles.length < n) {
      var t = new Tile(this, this.tiles.length);
      this.tiles.push(t);
      this.grid.appendChild(t.node);
    }
    while (this.tiles.length > n) {
      var last = this.tiles.pop();
      last.clear();
      last.node.remove();
    }
    this.focused = null;
    Array.prototype.forEach.call(this.root.querySelectorAll(".ccv-layout-btn"), function (b) {
      b.classList.toggle("active", b.dataset.layout === String(n));
    });
  };

  Wall.prototype.toggleFocus = function (tile) {
    // Focus: this tile alone at full resolution; again: back to the grid at tile size.
    var self = this;
    if (this.focused === tile) {
      this.focused = null;
      this.root.classList.remove("ccv-focused");
      this.tiles.forEach(function (t) { t.node.classList.remove("ccv-focus"); });
      if (tile.cameraId) tile.show(tile.cameraId, tile.name, "tile");
      return;
    }
    this.focused = tile;
    this.root.classList.add("ccv-focused");
    this.tiles.forEach(function (t) { t.node.classList.toggle("ccv-focus", t === tile); });
    if (tile.cameraId) tile.show(tile.cameraId, tile.name, "full");
    void self;
  };

  Wall.prototype.fill = function (cameras) {
    var self = this;
    this.tiles.forEach(function (t, i) {
      var c = cameras[i];
      if (c) t.show(c.id, c.name); else t.clear();
    });
    void self;
  };

  Wall.prototype.add = function (id, name) {
    var free = this.tiles.filter(function (t) { return !t.cameraId; })[0];
    (free || this.tiles[0]).show(id, name);
  };

  Wall.prototype.autofill = function () {
    var self = this;
    api("GET", "/api/v1/cameras?kind=key_site").then(function (data) {
      self.fill(data.cameras.slice(0, self.layout));
    }).catch(function () { /* not signed in or no cameras: leave the tiles empty */ });
  };

  Wall.prototype.startTour = function (seconds) {
    var self = this;
    this.stopTour();
    this.tourSeconds = seconds;
    this.root.classList.add("ccv-touring");
    api("GET", "/api/v1/cameras?kind=key_site").then(function (data) {
      self.tourCameras = data.cameras.filter(function (c) { return c.tour; });
      if (!self.tourCameras.length) self.tourCameras = data.cameras;
      self.tourPage = 0;
      var step = function () {
        var n = self.layout;
        var pages = Math.max(1, Math.ceil(self.tourCameras.length / n));
        var start = (self.tourPage % pages) * n;
        self.fill(self.tourCameras.slice(start, start + n));
        self.tourPage += 1;
      };
      step();
      self.tourTimer = setInterval(step, seconds * 1000);
    });
  };

  Wall.prototype.stopTour = function () {
    if (this.tourTimer) clearInterval(this.tourTimer);
    this.tourTimer = null;
    this.root.classList.remove("ccv-touring");
  };

  Wall.prototype.openNearest = function (lon, lat, n) {
    var self = this;
    this.stopTour();
    n = n || this.layout;
    return api("GET", "/api/v1/cameras?near=" + lon + "," + lat + "&n=" + n).then(function (d) {
      if (d.cameras.length > self.layout) {
        self.setLayout(LAYOUTS.filter(function (x) { return x >= d.cameras.length; })[0] || 16);
      }
      self.fill(d.cameras);
      return d.cameras;
    });
  };

  Wall.prototype.close = function () {
    this.stopTour();
    this.tiles.forEach(function (t) { t.clear(); });
  };

  // ------------------------------------------------------------------ camera list
  function CameraList(root) {
    var ul = el("ul", "ccv-camera-list");
    root.appendChild(ul);
    var s = getSocket();
    if (s) {
      s.on("camera_health", function (h) {
        var li = ul.querySelector('[data-camera-id="' + h.camera_id + '"] .ccv-dot');
        if (li) li.className = "ccv-dot ccv-" + h.status;
      });
    }
    var query = root.dataset.query || "";
    api("GET", "/api/v1/cameras" + (query ? "?" + query : "")).then(function (data) {
      data.cameras.forEach(function (c) {
        var li = el("li", "ccv-camera ccv-kind-" + c.kind);
        li.draggable = true;
        li.dataset.cameraId = c.id;
        li.appendChild(el("span", "ccv-dot ccv-" + (c.health && c.health.status)));
        li.appendChild(el("span", "ccv-camera-name", c.name));
        li.addEventListener("dragstart", function (ev) {
          ev.dataTransfer.setData("text/cc-camera", c.id);
          ev.dataTransfer.setData("text/cc-camera-name", c.name);
          ev.dataTransfer.setData("text/plain", c.id);
        });
        li.addEventListener("click", function () {
          var wall = walls[root.dataset.wall] || firstWall();
          if (wall) wall.add(c.id, c.name);
        });
        ul.appendChild(li);
      });
    }).catch(function () { /* not signed in */ });
  }

  function Recordings(root) {
    var q = root.dataset.caseId ? "?case_id=" + encodeURIComponent(root.dataset.caseId) : "";
    api("GET", "/api/v1/recordings" + q).then(function (data) {
      if (!data.recordings.length) { root.appendChild(el("div", "text-muted small", tr("noRecordings"))); return; }
      data.recordings.forEach(function (r) {
        var item = el("div", "ccv-recording");
        item.appendChild(el("div", "small", (r.started_at || "").replace("T", " ").slice(0, 19) +
          "  " + r.seconds + " s"));
        var v = el("video", "ccv-recording-video");
        v.controls = true;
        v.preload = "metadata";
        v.src = r.url;
        item.appendChild(v);
        root.appendChild(item);
      });
    }).catch(function () { /* not signed in */ });
  }

  function firstWall() {
    var keys = Object.keys(walls);
    return keys.length ? walls[keys[0]] : null;
  }

  // ------------------------------------------------------------------ calls
  function callPeer(localStream, receiveSlots, onRemote) {
    var pc = new RTCPeerConnection(RTC_CONFIG);
    localStream.getTracks().forEach(function (t) { pc.addTrack(t, localStream); });
    for (var i = 1; i < receiveSlots; i++) {
      pc.addTransceiver("video", { direction: "recvonly" });
      pc.addTransceiver("audio", { direction: "recvonly" });
    }
    pc.ontrack = function (ev) {
      var videos = pc.getTransceivers().filter(function (t) {
        return t.receiver.track && t.receiver.track.kind === ev.track.kind;
      });
      onRemote(ev.track, videos.indexOf(ev.transceiver));
    };
    return pc;
  }

  function publish(pc, url, body) {
    return pc.createOffer()
      .then(function (o) { return pc.setLocalDescription(o); })
      .then(function () { return gathered(pc); })
      .then(function () {
        body.sdp = pc.localDescription.sdp;
        return api("POST", url, body);
      })
      .then(function (answer) { return pc.setRemoteDescription({ type: "answer", sdp: answer.sdp }); });
  }

  function media() {
    return navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: true });
  }

  function remoteTile(container, key, label) {
    var box = container.querySelector('[data-party="' + key + '"]');
    if (!box) {
      box = el("div", "ccv-party");
      box.dataset.party = key;
      var v = el("video", "ccv-video");
      v.autoplay = true;
      v.playsInline = true;
      box.appendChild(v);
      box.appendChild(el("div", "ccv-label", label || key));
      container.appendChild(box);
    }
    return box;
  }

  function attachRemote(container, labels) {
    return function (track, index) {
      var key = labels[index] || ("party-" + index);
      var box = remoteTile(container, key, key);
      var v = box.querySelector("video");
      if (track.kind === "video") {
        v.srcObject = new MediaStream([track]);
      } else {
        var a = box.querySelector("audio") || box.appendChild(el("audio"));
        a.autoplay = true;
        a.srcObject = new MediaStream([track]);
      }
    };
  }

  function Commander(root) {
    var self = this;
    this.root = root;
    this.call = null;
    this.pc = null;
    this.stream = null;
    this.caseId = root.dataset.caseId ? parseInt(root.dataset.caseId, 10) : null;
    this.list = el("div", "ccv-stations");
    this.status = el("div", "ccv-call-status");
    this.notice = el("div", "ccv-record-notice");
    var bar = el("div", "ccv-call-bar");
    this.callBtn = el("button", "btn btn-success btn-sm ccv-call-btn", tr("call"));
    this.hangBtn = el("button", "btn btn-danger btn-sm ccv-hangup-btn", tr("hangup"));
    this.recBtn = el("button", "btn btn-outline-warning btn-sm ccv-record-btn", tr("record"));
    [this.callBtn, this.hangBtn, this.recBtn].forEach(function (b) { b.type = "button"; bar.appendChild(b); });
    this.local = el("video", "ccv-video ccv-local");
    this.local.autoplay = true;
    this.local.muted = true;
    this.local.playsInline = true;
    this.remotes = el("div", "ccv-remotes");
    [this.list, bar, this.status, this.notice, this.local, this.remotes].forEach(function (n) {
      root.appendChild(n);
    });
    this.callBtn.addEventListener("click", function () { self.start(self.selected()); });
    this.hangBtn.addEventListener("click", function () { self.hangup(); });
    this.recBtn.addEventListener("click", function () { self.toggleRecording(); });
    api("GET", "/api/v1/cameras?kind=township_station").then(function (data) {
      data.cameras.forEach(function (c) {
        var label = el("label", "ccv-station");
        var box = el("input");
        box.type = "checkbox";
        box.value = c.id;
        label.appendChild(box);
        label.appendChild(document.createTextNode(" " + c.name));
        self.list.appendChild(label);
      });
    }).catch(function () { /* not signed in */ });
    var s = getSocket();
    if (s) {
      s.on("call_state", function (msg) { self.onState(msg.call); });
      s.on("recording_notice", function () { self.notice.textContent = tr("recording"); });
      s.on("recording_state", function () { self.notice.textContent = ""; });
    }
  }

  Commander.prototype.selected = function () {
    return Array.prototype.map.call(
      this.list.querySelectorAll("input:checked"), function (i) { return i.value; });
  };

  Commander.prototype.start = function (stations) {
    var self = this;
    if (!stations.length) { this.status.textContent = tr("noStation"); return Promise.resolve(); }
    var body = { stations: stations };
    if (this.caseId) body.case_id = this.caseId;
    return api("POST", "/api/v1/calls", body).then(function (call) {
      self.call = call;
      self.root.dataset.callId = call.id;
      self.onState(call);
      var s = getSocket();
      if (s) s.emit("call_join", { call_id: call.id });
      return media();
    }).then(function (stream) {
      self.stream = stream;
      self.local.srcObject = stream;
      self.pc = callPeer(stream, stations.length, attachRemote(self.remotes, stations));
      return publish(self.pc, "/api/v1/calls/" + self.call.id + "/media", {});
    }).catch(function (err) { self.status.textContent = tr("error") + err.message; });
  };

  Commander.prototype.onState = function (call) {
    if (!this.call || call.id !== this.call.id) return;
    this.call = call;
    this.root.dataset.callState = call.state;
    this.status.textContent = call.legs.map(function (l) {
      return l.station_id + ": " + l.state;
    }).join(" · ");
    if (call.state === "ended") this.cleanup();
  };

  Commander.prototype.hangup = function () {
    if (!this.call) return;
    api("POST", "/api/v1/calls/" + this.call.id + "/hangup", {}).catch(function () {});
    this.cleanup();
  };

  Commander.prototype.toggleRecording = function () {
    var self = this;
    if (!this.call) return;
    var on = !this.call.recording;
    api("POST", "/api/v1/calls/" + this.call.id + "/recording", { on: on }).then(function (c) {
      self.call = c;
      self.recBtn.textContent = c.recording ? tr("stopRecord") : tr("record");
    });
  };

  Commander.prototype.cleanup = function () {
    if (this.pc) this.pc.close();
    this.pc = null;
    if (this.stream) this.stream.getTracks().forEach(function (t) { t.stop(); });
    this.stream = null;
    this.remotes.textContent = "";
  };

  function Station(root) {
    var self = this;
    this.root = root;
    this.stationId = root.dataset.stationId || "";
    this.call = null;
    this.pc = null;
    this.stream = null;
    this.select = el("select", "form-select form-select-sm ccv-station-select");
    this.state = el("div", "ccv-station-state", tr("waiting"));
    this.ring = el("div", "ccv-ring");
    this.notice = el("div", "ccv-record-notice");
    this.hangBtn = el("button", "btn btn-danger btn-sm ccv-hangup-btn", tr("hangup"));
    this.hangBtn.type = "button";
    this.hangBtn.hidden = true;
    this.hangBtn.addEventListener("click", function () { self.hangup(); });
    this.local = el("video", "ccv-video ccv-local");
    this.local.autoplay = true;
    this.local.muted = true;
    this.local.playsInline = true;
    this.remotes = el("div", "ccv-remotes");
    [this.select, this.state, this.ring, this.notice, this.hangBtn, this.local, this.remotes].forEach(function (n) {
      root.appendChild(n);
    });
    var s = getSocket();
    if (!s) { this.state.textContent = tr("error") + "socket.io"; return; }
    s.on("connect", function () { if (self.stationId) self.register(); });
    s.on("call_ring", function (msg) { self.onRing(msg.call); });
    s.on("call_state", function (msg) { self.onState(msg.call); });
    s.on("recording_notice", function () { self.notice.textContent = tr("recording"); });
    s.on("recording_state", function () { self.notice.textContent = ""; });
    this.select.addEventListener("change", function () {
      self.stationId = self.select.value;
      self.register();
    });
    api("GET", "/api/v1/cameras?kind=township_station").then(function (data) {
      data.cameras.forEach(function (c) {
        var o = el("option", "", c.name);
        o.value = c.id;
        self.select.appendChild(o);
      });
      if (!self.stationId && data.cameras.length) self.stationId = data.cameras[0].id;
      self.select.value = self.stationId;
      if (s.connected) self.register();
    }).catch(function () { /* not signed in */ });
  }

  Station.prototype.register = function () {
    var self = this;
    if (!this.stationId) return;
    getSocket().emit("station_register", { station_id: this.stationId }, function (ack) {
      self.root.dataset.registered = ack && ack.ok ? self.stationId : "";
      if (ack && ack.ok && ack.ringing && ack.ringing.length) self.onRing(ack.ringing[0]);
    });
  };

  Station.prototype.onRing = function (call) {
    var self = this;
    this.call = call;
    this.root.dataset.callId = call.id;
    this.root.dataset.callState = "ringing";
    this.ring.textContent = "";
    this.ring.appendChild(el("span", "ccv-ring-text", tr("ringing") + call.commander_name));
    var a = el("button", "btn btn-success btn-sm ccv-accept-btn", tr("accept"));
    var d = el("button", "btn btn-outline-danger btn-sm ccv-decline-btn", tr("decline"));
    a.type = d.type = "button";
    a.addEventListener("click", function () { self.answer(true); });
    d.addEventListener("click", function () { self.answer(false); });
    this.ring.appendChild(a);
    this.ring.appendChild(d);
  };

  Station.prototype.answer = function (accept) {
    var self = this;
    var call = this.call;
    this.ring.textContent = "";
    getSocket().emit(accept ? "call_accept" : "call_decline",
      { call_id: call.id, station_id: this.stationId }, function (ack) {
        if (!ack || !ack.ok) {
          self.state.textContent = tr("error") + (ack && ack.error ? ack.error.message : "");
          return;
        }
        self.onState(ack.call);
        if (!accept) return;
        media().then(function (stream) {
          self.stream = stream;
          self.local.srcObject = stream;
          self.pc = callPeer(stream, 1, attachRemote(self.remotes, [call.commander_name]));
          return publish(self.pc, "/api/v1/calls/" + call.id + "/media", { station_id: self.stationId });
        }).catch(function (err) { self.state.textContent = tr("error") + err.message; });
      });
  };

  Station.prototype.hangup = function () {
    var self = this;
    if (!this.call) return;
    getSocket().emit("call_hangup", { call_id: this.call.id, station_id: this.stationId },
      function (ack) { if (ack && ack.ok) self.onState(ack.call); });
    this.hangBtn.hidden = true;
    this.root.dataset.callState = "ended";
    this.state.textContent = tr("ended");
    this.cleanup();
  };

  Station.prototype.onState = function (call) {
    if (!this.call || call.id !== this.call.id) return;
    this.call = call;
    var mine = call.legs.filter(function (l) { return l.station_id === this.stationId; }, this)[0];
    var state = call.state === "ended" ? "ended" : (mine ? mine.state : call.state);
    this.root.dataset.callState = state;
    this.state.textContent = state === "accepted" ? tr("inCall") : state === "ended" ? tr("ended") : state;
    this.hangBtn.hidden = state !== "accepted";
    if (state !== "ringing") this.ring.textContent = "";
    if (state === "ended" || state === "declined" || state === "missed" || state === "cancelled") {
      this.cleanup();
    }
  };

  Station.prototype.cleanup = function () {
    if (this.pc) this.pc.close();
    this.pc = null;
    if (this.stream) this.stream.getTracks().forEach(function (t) { t.stop(); });
    this.stream = null;
    this.remotes.textContent = "";
  };

  // ------------------------------------------------------------------ discovery
  var commanders = {};
  var stations = {};

  function scan(node) {
    if (!node.querySelectorAll) return;
    var each = function (sel, fn) {
      if (node.matches && node.matches(sel)) fn(node);
      Array.prototype.forEach.call(node.querySelectorAll(sel), fn);
    };
    each("[data-i18n]", learnTexts);
    each("[data-cc-video-wall]", function (n) {
      if (n.dataset.ccReady) return;
      n.dataset.ccReady = "1";
      var w = new Wall(n);
      walls[w.id] = w;
      followHealth();
    });
    each("[data-cc-camera-list]", function (n) {
      if (n.dataset.ccReady) return;
      n.dataset.ccReady = "1";
      CameraList(n);
    });
    each("[data-cc-recordings]", function (n) {
      if (n.dataset.ccReady) return;
      n.dataset.ccReady = "1";
      Recordings(n);
    });
    each("[data-cc-commander]", function (n) {
      if (n.dataset.ccReady) return;
      n.dataset.ccReady = "1";
      commanders[n.id || "commander"] = new Commander(n);
    });
    each("[data-cc-station]", function (n) {
      if (n.dataset.ccReady) return;
      n.dataset.ccReady = "1";
      stations[n.id || "station"] = new Station(n);
    });
  }

  function sweep() {
    // Walls removed by a page change free their viewers.
    Object.keys(walls).forEach(function (id) {
      if (!document.body.contains(walls[id].root)) { walls[id].close(); delete walls[id]; }
    });
  }

  function followHealth() {
    var s = getSocket();
    if (!s || followHealth.done) return;
    followHealth.done = true;
    s.on("camera_health", function (h) {
      Object.keys(walls).forEach(function (id) {
        walls[id].tiles.forEach(function (t) {
          if (t.cameraId !== h.camera_id || !t.viewer) return;
          var live = h.status === "online";
          t.status.textContent = live ? tr("live") : tr("offline");
          t.status.className = "ccv-status " + (live ? "ccv-live" : "ccv-error");
        });
      });
    });
  }

  document.addEventListener("click", function (ev) {
    var b = ev.target.closest && ev.target.closest("[data-cc-nearest]");
    if (!b) return;
    var wall = walls[b.dataset.wall] || firstWall();
    if (wall) wall.openNearest(b.dataset.lon, b.dataset.lat, parseInt(b.dataset.n || "4", 10));
  });

  window.addEventListener("pagehide", function () {
    Object.keys(walls).forEach(function (id) { walls[id].close(); });
  });

  function boot() {
    scan(document.body);
    new MutationObserver(function (records) {
      records.forEach(function (r) { Array.prototype.forEach.call(r.addedNodes, scan); });
      sweep();
    }).observe(document.body, { childList: true, subtree: true });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();

  window.ccVideo = {
    walls: walls,
    commanders: commanders,
    stations: stations,
    /* Put a camera on a wall (e.g. from a clientside callback on a map click). */
    addToWall: function (wallId, cameraId, name) {
      var w = walls[wallId] || firstWall();
      if (w) w.add(cameraId, name || cameraId);
    },
    openNearest: function (wallId, lon, lat, n) {
      var w = walls[wallId] || firstWall();
      return w ? w.openNearest(lon, lat, n) : Promise.resolve([]);
    },
    /* Frames decoded so far by every tile of a wall (tests and diagnostics). */
    framesDecoded: function (wallId) {
      var w = walls[wallId] || firstWall();
      if (!w) return Promise.resolve([]);
      return Promise.all(w.tiles.map(function (t) {
        return t.viewer ? t.viewer.framesDecoded() : Promise.resolve(0);
      }));
    },
    /* Video frames decoded on a call panel's peer connection (commander or station). */
    callFramesDecoded: function (kind, id) {
      var panel = (kind === "station" ? stations : commanders)[id || kind];
      if (!panel || !panel.pc) return Promise.resolve(0);
      return panel.pc.getStats().then(function (report) {
        var n = 0;
        report.forEach(function (s) {
          if (s.type === "inbound-rtp" && s.kind === "video") n += s.framesDecoded || 0;
        });
        return n;
      });
    }
  };
})();
