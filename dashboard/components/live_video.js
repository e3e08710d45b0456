// The live video in the browser: a receive-only WebRTC peer whose offer goes to the server through the
// component's state and whose answer comes back in its data; the boxes of each shown frame are drawn over the
// video from the overlay the server sends beside it on a data channel, keyed by the frame's RTP timestamp,
// with this viewer's own score threshold and class filter. Reports the frames shown to the server once a second.
// The same element serves the Live page ("page": full width, fullscreen button) and the wall ("tile": name,
// fps, detections and signal on the tile, a click opens it on the Live page).

const REPORT_EVERY_MS = 1000;
const OVERLAYS_KEPT = 120;
const RECONNECT_AFTER_MS = 3000;
const RETRY_REFUSED_MS = 10000;
// Under load a state change of this element can be lost between the page's runs: a value the server's data has not
// acknowledged after this long is sent again.
const RESEND_AFTER_MS = 4000;

function newId() {
  return Math.random().toString(36).slice(2) + Date.now().toString(36);
}

function waitForIceGathering(peer, timeoutMs) {
  if (peer.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { peer.removeEventListener("icegatheringstatechange", check); resolve(); };
    const check = () => { if (peer.iceGatheringState === "complete") done(); };
    peer.addEventListener("icegatheringstatechange", check);
    setTimeout(done, timeoutMs);
  });
}

class LiveVideo {
  constructor(parent) {
    this.root = document.createElement("div");
    this.root.className = "eds-live";
    this.root.dataset.testid = "edsLiveVideo";
    // what the element shows, for tests and benchmarks: a plain object, not DOM attributes (no style work a frame)
    this.root.liveVideo = this.shown = { title: "", state: "connecting", frames: 0, boxes: 0, labels: [], signal: "starting",
      resent: 0 };
    this.root.innerHTML = `
      <video muted autoplay playsinline></video>
      <canvas class="eds-live-boxes"></canvas>
      <div class="eds-live-title"></div>
      <div class="eds-live-status"></div>
      <button type="button" class="eds-live-fullscreen" title="Fullscreen" aria-label="Fullscreen">
        <svg viewBox="0 0 24 24" width="20" height="20" fill="none" stroke="currentColor" stroke-width="2.2">
          <path d="M4 9V4h5M15 4h5v5M20 15v5h-5M9 20H4v-5"/></svg></button>`;
    parent.appendChild(this.root);
    this.video = this.root.querySelector("video");
    this.canvas = this.root.querySelector("canvas");
    this.title = this.root.querySelector(".eds-live-title");
    this.status = this.root.querySelector(".eds-live-status");
    this.fullscreen = this.root.querySelector(".eds-live-fullscreen");
    this.fullscreen.addEventListener("click", (event) => { event.stopPropagation(); this.toggleFullscreen(); });
    // a tile's click loads its page anew (a new session), not a page switch inside this one (see live_link.py)
    this.root.addEventListener("click", () => {
      if (this.data.mode === "tile" && this.data.link) window.location.assign(new URL(this.data.link, window.location.href));
    });
    this.overlays = new Map();
    this.frames = 0;
    this.current = null;  // the RTP timestamp of the frame on screen
    this.newest = null;  // that of the newest overlay received
    this.signal = "starting";
    this.fpsShown = 0;
    this.lastCount = { frames: 0, at: performance.now() };
    this.closed = false;
    this.resize = new ResizeObserver(() => this.draw());
    this.resize.observe(this.video);
    this.reporter = setInterval(() => this.report(), REPORT_EVERY_MS);
    this.watchFrames();
  }

  update(data, setStateValue) {
    this.data = data;
    this.setStateValue = setStateValue;
    this.root.classList.toggle("eds-live-tile", data.mode === "tile");
    this.shown.title = data.title || "";
    this.fullscreen.hidden = !data.fullscreen;
    this.filter = { minScore: data.min_score, classes: data.classes ? new Set(data.classes) : null };
    this.shown.playingAcknowledged = !!data.playing;
    if (!this.peer) this.connect();
    const answer = data.answer;
    if (answer && this.peer && answer.id === this.offerId && !this.answered) {
      this.answered = true;
      if (answer.error) {  // said on the video; asked again later (a server at its limit of videos, say)
        this.showError(answer.error);
        setTimeout(() => this.reconnect(), RETRY_REFUSED_MS);
      } else this.peer.setRemoteDescription({ type: "answer", sdp: answer.sdp }).catch((error) => this.showError(String(error)));
    }
    this.showText();
    this.draw();
  }

  async connect() {
    const peer = new RTCPeerConnection({ iceServers: this.data.ice || [] });
    this.peer = peer;
    this.offerId = newId();
    this.answered = false;
    this.shown.state = "connecting";
    const transceiver = peer.addTransceiver("video", { direction: "recvonly" });
    const vp8 = (RTCRtpReceiver.getCapabilities && RTCRtpReceiver.getCapabilities("video")?.codecs || [])
      .filter((codec) => ["video/VP8", "video/rtx"].includes(codec.mimeType));
    if (vp8.length && transceiver.setCodecPreferences) transceiver.setCodecPreferences(vp8);
    const channel = peer.createDataChannel("overlay", { ordered: false, maxRetransmits: 0 });
    this.channel = channel;
    channel.onmessage = (event) => this.onOverlay(event.data);
    peer.ontrack = (event) => {
      this.video.srcObject = new MediaStream([event.track]);
      this.video.play().catch(() => {});
    };
    peer.onconnectionstatechange = () => {
      this.shown.state = peer.connectionState;
      if (peer.connectionState === "connected" && !this.connectedAt) this.connectedAt = performance.now();
      if (peer.connectionState === "failed" && peer === this.peer) this.reconnect();
    };
    await peer.setLocalDescription(await peer.createOffer());
    await waitForIceGathering(peer, 3000);
    if (peer !== this.peer || this.closed) return;
    this.offer = { id: this.offerId, sdp: peer.localDescription.sdp };
    this.send("offer", this.offer);
  }

  send(name, value) {
    this.sentAt = performance.now();
    this.setStateValue(name, value);
  }

  resendUnacknowledged() {
    if (performance.now() - this.sentAt < RESEND_AFTER_MS) return;
    if (this.peer && this.offer && this.offer.id === this.offerId && !this.answered) {
      this.shown.resent += 1;
      this.send("offer", { ...this.offer, sent: this.shown.resent });  // a changed value, so that it goes out
    } else if (this.firstFrameAt && !this.data.playing) {
      this.shown.resent += 1;
      this.send("playing", this.shown.resent);  // as true as `true`, and a changed value
    }
  }

  reconnect() {
    const old = this.peer;
    this.peer = null;
    if (old) old.close();
    setTimeout(() => { if (!this.closed && !this.peer) this.connect(); }, RECONNECT_AFTER_MS);
  }

  onOverlay(text) {
    if (typeof text !== "string" || text.length > 200000) return;
    let overlay;
    try { overlay = JSON.parse(text); } catch (error) { return; }
    this.overlays.set(overlay.rtp, overlay);
    this.newest = overlay.rtp;
    if (this.overlays.size > OVERLAYS_KEPT) this.overlays.delete(this.overlays.keys().next().value);
    if (overlay.rtp === this.current) this.draw();  // it came after its frame
  }

  watchFrames() {
    if (this.closed) return;
    this.video.requestVideoFrameCallback((now, metadata) => {
      this.frames += 1;
      if (!this.firstFrameAt) {
        this.firstFrameAt = performance.now();
        this.shown.firstFrameMs = Math.round(this.firstFrameAt - (this.connectedAt || this.firstFrameAt));
        this.send("playing", true);
      }
      // a browser that does not report the frame's RTP timestamp gets the newest overlay (near, not exact)
      this.current = metadata.rtpTimestamp ?? this.newest;
      this.shown.frames = this.frames;
      this.draw();
      this.watchFrames();
    });
  }

  report() {
    const now = performance.now();
    this.fpsShown = (this.frames - this.lastCount.frames) * 1000 / (now - this.lastCount.at);
    this.lastCount = { frames: this.frames, at: now };
    if (this.channel && this.channel.readyState === "open") {
      this.channel.send(JSON.stringify({ frames: this.frames, t: now }));
    }
    this.resendUnacknowledged();
    this.showText();
  }

  kept(box) {
    const [, , , , score, label] = box;
    return score >= this.filter.minScore && (!this.filter.classes || this.filter.classes.has(label));
  }

  draw() {
    const overlay = this.current === null ? undefined : this.overlays.get(this.current);
    const ratio = window.devicePixelRatio || 1;
    const width = this.video.clientWidth, height = this.video.clientHeight;
    if (this.canvas.width !== Math.round(width * ratio) || this.canvas.height !== Math.round(height * ratio)) {
      this.canvas.width = Math.round(width * ratio);
      this.canvas.height = Math.round(height * ratio);
    }
    const context = this.context || (this.context = this.canvas.getContext("2d"));
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, height);
    if (overlay) this.signal = overlay.signal;
    const boxes = overlay ? overlay.boxes.filter((box) => this.kept(box)) : [];
    this.shown.boxes = boxes.length;
    this.shown.labels = [...new Set(boxes.map((box) => box[5]))].sort((a, b) => a - b);
    this.shown.signal = this.signal;
    this.drawn = boxes.length;
    if (!overlay || !overlay.w || !width) return;
    const scale = Math.min(width / overlay.w, height / overlay.h);
    const left = (width - overlay.w * scale) / 2, top = (height - overlay.h * scale) / 2;
    const names = this.data.names || [], colours = this.data.colours || [];
    const line = Math.max(1.5, 2 * scale * Math.min(overlay.w, overlay.h) / 480);
    const fontSize = Math.max(11, Math.round(13 * Math.min(1.6, Math.max(0.8, width / 800))));
    context.font = `${fontSize}px sans-serif`;
    context.lineWidth = line;
    for (const [x1, y1, x2, y2, score, label] of boxes) {
      const colour = colours[label] || "#00ff00";
      const x = left + x1 * scale, y = top + y1 * scale, w = (x2 - x1) * scale, h = (y2 - y1) * scale;
      context.strokeStyle = colour;
      context.strokeRect(x, y, w, h);
      const text = `${names[label] ?? label} ${score.toFixed(2)}`;
      const textWidth = context.measureText(text).width + 6;
      const labelTop = y - fontSize - 4 >= 0 ? y - fontSize - 4 : y;
      context.fillStyle = colour;
      context.fillRect(x, labelTop, textWidth, fontSize + 4);
      context.fillStyle = this.textColour(colour);
      context.fillText(text, x + 3, labelTop + fontSize);
    }
  }

  textColour(colour) {
    const value = parseInt(colour.slice(1), 16);
    const red = (value >> 16) & 255, green = (value >> 8) & 255, blue = value & 255;
    return 0.299 * red + 0.587 * green + 0.114 * blue > 150 ? "#000" : "#fff";
  }

  showText() {
    const data = this.data || {};
    if (data.mode === "tile") {
      const detections = this.drawn === 1 ? "1 detection" : `${this.drawn || 0} detections`;
      const live = this.signal === "live";
      this.title.textContent = `${data.title || ""} · ${live ? `${this.fpsShown.toFixed(1)} fps · ${detections}` : "no picture"}`;
    } else {
      this.title.textContent = "";
    }
    this.title.hidden = data.mode !== "tile";
    const status = data.status || "";
    this.status.textContent = status;
    this.status.hidden = !status;
    this.status.className = `eds-live-status eds-live-${data.status_level || "info"}`;
  }

  showError(message) {
    this.shown.state = "error";
    this.status.textContent = message;
    this.status.hidden = false;
  }

  toggleFullscreen() {
    if (document.fullscreenElement === this.root) document.exitFullscreen();
    else this.root.requestFullscreen().catch(() => {});
  }

  close() {
    this.closed = true;
    clearInterval(this.reporter);
    this.resize.disconnect();
    if (this.peer) this.peer.close();
    this.peer = null;
  }
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  let view = parentElement.edsLiveVideo;
  if (!view) {
    view = new LiveVideo(parentElement);
    parentElement.edsLiveVideo = view;
  }
  view.update(data || {}, setStateValue);
  return () => {
    view.close();
    delete parentElement.edsLiveVideo;
  };
}
