// massager phone remote: a JSON-RPC 2.0 client of `massager serve` over its websocket.
// Plain modern JS, no build step, nothing fetched from elsewhere. See docs/remote.md.

const HOLD_MS = 1000; // hold-to-start
const THROTTLE_MS = 150; // at most one session.set_intensity per this
const CALL_TIMEOUT_MS = 8000;
const POLL_AFTER_MS = 2000; // no status for this long: ask for one (pushes only come on change)
const STALE_AFTER_MS = 4000; // no status for this long: the banner
const DEAD_AFTER_MS = 10000; // no status for this long on an open socket: reconnect
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 10000];
const TOKEN_KEY = "massager.token";
const INTENSITY_KEY = "massager.intensity";
const ZONE_ORDER = ["toes", "toe1", "toe2", "toe3", "toe4", "toe5", "sole", "ball", "arch", "heel",
  "achilles", "ankle", "ankle_inner", "ankle_outer", "instep", "shin", "calf"];
const E_UNAUTHORIZED = -32001;

const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
};

/** m:ss (or h:mm:ss) for a duration in ms. */
function clock(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** "13 min" / "45 s" for a profile's duration. */
function minutes(ms) {
  return ms >= 60000 ? `${Math.round(ms / 6000) / 10} min` : `${Math.round(ms / 1000)} s`;
}

const pretty = (id) => id.replaceAll("_", " ").replaceAll("-", " ");

/** The access token: `?token=` of the page URL (then kept in localStorage), else the kept one. */
function readToken() {
  const url = new URL(location.href);
  const given = url.searchParams.get("token");
  if (given !== null) {
    storeToken(given);
    url.searchParams.delete("token"); // keep it off the screen and out of screenshots
    history.replaceState(null, "", url.pathname + url.search + url.hash);
    return given;
  }
  try { return localStorage.getItem(TOKEN_KEY) || ""; } catch { return ""; }
}

function storeToken(token) {
  try { localStorage.setItem(TOKEN_KEY, token); } catch { /* private mode: this page only */ }
}

class RpcError extends Error {
  constructor(code, message, data) {
    super(message);
    this.code = code;
    this.data = data;
  }
}

/** One websocket to the service: calls with timeouts, pushes, and reconnection with backoff. */
class Connection {
  constructor(hooks) {
    this.hooks = hooks; // {open(), close(delayMs), notify(method, params)}
    this.token = readToken();
    this.ws = null;
    this.nextId = 1;
    this.pending = new Map();
    this.attempt = 0;
    this.timer = 0;
    this.retryAt = 0;
  }

  get open() { return this.ws !== null && this.ws.readyState === WebSocket.OPEN; }

  connect() {
    clearTimeout(this.timer);
    this.timer = 0;
    if (this.ws) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = this.token ? `?token=${encodeURIComponent(this.token)}` : "";
    const ws = new WebSocket(`${scheme}//${location.host}/ws${query}`);
    this.ws = ws;
    ws.onopen = () => { this.attempt = 0; this.hooks.open(); };
    ws.onmessage = (ev) => this.receive(ev.data);
    ws.onclose = () => this.dropped(ws);
    ws.onerror = () => ws.close();
  }

  /** Give the socket up now (a dead link may never finish closing) and reconnect with backoff. */
  restart() {
    const ws = this.ws;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    ws.close();
    this.dropped(ws);
  }

  /** Reconnect now if we are waiting to (page shown again, network back). */
  hurry() { if (!this.ws) { this.attempt = 0; this.connect(); } }

  dropped(ws) {
    if (this.ws !== ws) return;
    this.ws = null;
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(new RpcError(0, "the connection to the massager was lost"));
    }
    this.pending.clear();
    const base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.attempt += 1;
    this.retryAt = performance.now() + delay;
    this.timer = setTimeout(() => this.connect(), delay);
    this.hooks.close(delay);
  }

  receive(text) {
    let msg;
    try { msg = JSON.parse(text); } catch { return; }
    for (const one of Array.isArray(msg) ? msg : [msg]) {
      if (one.method && one.id === undefined) { this.hooks.notify(one.method, one.params); continue; }
      const call = this.pending.get(one.id);
      if (!call) continue;
      this.pending.delete(one.id);
      clearTimeout(call.timer);
      if (one.error) call.reject(new RpcError(one.error.code, one.error.message, one.error.data));
      else call.resolve(one.result);
    }
  }

  /** Call `method`; resolves with its result, rejects with an RpcError. */
  call(method, params = {}, timeoutMs = CALL_TIMEOUT_MS) {
    if (!this.open) return Promise.reject(new RpcError(0, "not connected to the massager"));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RpcError(0, `${method}: no answer in ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
    });
  }
}

/** Draws a profile's timeline (from profile.describe) on a canvas: step bands, one lane per actuator. */
function drawTimeline(canvas, desc) {
  const width = canvas.clientWidth || 320;
  const lanes = desc.actuators.filter((a) => desc.timeline[a.id]);
  const laneH = Math.max(6, Math.min(12, Math.floor(150 / Math.max(1, lanes.length))));
  const top = 16, axis = 14, left = 14, right = 4;
  const height = top + lanes.length * laneH + axis;
  const dpr = window.devicePixelRatio || 1;
  canvas.style.height = `${height}px`;
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  const css = getComputedStyle(document.documentElement);
  const color = (name) => css.getPropertyValue(`--${name}`).trim() || "#888";
  const span = Math.max(1, desc.duration_ms);
  const plotW = width - left - right;
  const x = (t) => left + (t / span) * plotW;
  ctx.font = "10px system-ui, sans-serif";
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  desc.steps.forEach((step, i) => {
    const x0 = x(step.start_ms), x1 = x(step.end_ms);
    if (i % 2 === 0) {
      ctx.fillStyle = color("band");
      ctx.fillRect(x0, top, x1 - x0, lanes.length * laneH);
    }
    if (x1 - x0 >= 12) {
      ctx.fillStyle = color("muted");
      ctx.fillText(String(step.index), (x0 + x1) / 2, top / 2);
    }
  });
  let lastFoot = null;
  lanes.forEach((act, i) => {
    const y0 = top + i * laneH, base = y0 + laneH - 1;
    if (act.foot !== lastFoot) {
      ctx.fillStyle = color("muted");
      ctx.textAlign = "left";
      ctx.fillText(act.foot === "left" ? "L" : act.foot === "right" ? "R" : "", 1, y0 + laneH);
      ctx.textAlign = "center";
      if (lastFoot !== null) {
        ctx.fillStyle = color("line");
        ctx.fillRect(left, y0, plotW, 1);
      }
      lastFoot = act.foot;
    }
    ctx.beginPath();
    ctx.moveTo(x(0), base);
    for (const [t, level] of desc.timeline[act.id]) ctx.lineTo(x(t), base - Math.min(1, Math.abs(level)) * (laneH - 2));
    ctx.lineTo(x(span), base);
    ctx.closePath();
    ctx.fillStyle = color(act.kind) || color("accent");
    ctx.fill();
  });
  const stepMin = span > 40 * 60000 ? 10 : span > 12 * 60000 ? 2 : 1;
  ctx.fillStyle = color("muted");
  for (let t = 0; t <= span; t += stepMin * 60000) {
    ctx.fillRect(x(t), top + lanes.length * laneH, 1, 3);
    ctx.fillText(`${t / 60000}m`, Math.min(Math.max(x(t), left + 8), width - 10), height - axis / 2 + 2);
  }
  const summary = desc.steps.map((s) => `${s.index} ${s.label} (${clock(s.start_ms)} to ${clock(s.end_ms)})`);
  canvas.setAttribute("aria-label",
    `Timeline of ${desc.name}: ${desc.steps.length} steps over ${clock(desc.duration_ms)}. ${summary.slice(0, 30).join("; ")}`);
}

/** Bars for named levels in a .zones grid, reusing rows so 10 pushes a second stay cheap. */
function drawBars(box, entries) {
  const key = entries.map(([name]) => name).join("|");
  if (box.dataset.key !== key) {
    box.replaceChildren();
    for (const [name, , label] of entries) {
      const fill = el("div");
      const track = el("div", "lvl");
      track.append(fill);
      track.setAttribute("role", "meter");
      track.setAttribute("aria-label", label);
      track.setAttribute("aria-valuemin", "0");
      track.setAttribute("aria-valuemax", "100");
      box.append(el("span", "", label), track, el("span", "num"));
    }
    box.dataset.key = key;
    if (!entries.length) box.append(el("span", "muted", "no session"));
  }
  const cells = box.children;
  entries.forEach(([, value], i) => {
    const pct = Math.round(Math.min(1, Math.abs(value)) * 100);
    cells[i * 3 + 1].firstChild.style.width = `${pct}%`;
    cells[i * 3 + 1].setAttribute("aria-valuenow", String(pct));
    cells[i * 3 + 2].textContent = `${value < 0 ? "−" : ""}${pct} %`;
  });
}

class Remote {
  constructor() {
    this.status = null;
    this.info = null;
    this.profiles = [];
    this.described = new Map(); // profile name -> describe result (or a Promise while asked)
    this.shown = null; // the describe result drawn now
    this.lastStatusAt = performance.now();
    this.subscribed = false;
    this.polling = false;
    this.unauthorized = false;
    this.hold = null;
    this.sentAt = 0;
    this.sendTimer = 0;
    this.touchedAt = -1e9;
    this.wanted = null; // the intensity (%) the user chose, not sent yet
    this.inFlight = 0; // session.set_intensity calls not answered yet
    this.toastTimer = 0;
    this.conn = new Connection({
      open: () => this.opened(),
      close: (delay) => this.closed(delay),
      notify: (method, params) => { if (method === "status") this.update(params); },
    });
  }

  start() {
    let kept = null;
    try { kept = localStorage.getItem(INTENSITY_KEY); } catch { /* none kept */ }
    if (kept !== null && kept !== "") $("intensity").value = kept;
    $("intensity-out").textContent = `${$("intensity").value} %`;
    $("start-label").textContent = this.startLabel();
    this.bind();
    this.conn.connect();
    setInterval(() => this.watch(), 250);
    this.renderConnection();
  }

  // ---- connection ----

  async opened() {
    this.subscribed = false;
    this.unauthorized = false;
    this.renderConnection();
    this.conn.call("server.info").then((info) => { this.info = info; this.renderAbout(); }, () => {});
    try {
      this.update(await this.conn.call("status.subscribe"));
      this.subscribed = true;
      this.profiles = await this.conn.call("profile.list");
      this.renderProfiles();
      this.loadHistory();
    } catch (err) {
      if (err.code === 0 && this.conn.open) this.conn.restart(); // no answer: try a new connection
      else this.failed(err);
    }
    this.render();
  }

  closed(delay) {
    this.subscribed = false;
    this.renderConnection(delay);
    this.render();
  }

  /** Every 250 ms: poll when pushes pause, the stale banner, reconnect a dead link. */
  watch() {
    const age = performance.now() - this.lastStatusAt;
    if (this.conn.open && this.subscribed && age > POLL_AFTER_MS && !this.polling) {
      this.polling = true;
      this.conn.call("status.get", {}, 4000).then((s) => this.update(s), () => {})
        .finally(() => { this.polling = false; });
    }
    if (this.conn.open && this.subscribed && age > DEAD_AFTER_MS) {
      this.lastStatusAt = performance.now() - STALE_AFTER_MS; // keep the banner, restart the clock
      this.conn.restart();
    }
    const stale = age > STALE_AFTER_MS;
    document.body.classList.toggle("stale", stale);
    const banner = $("stale");
    banner.hidden = !stale;
    if (stale) {
      let how = "Connecting…";
      if (this.unauthorized) how = "The page has no valid access token.";
      else if (this.conn.open) how = "Waiting for the massager…";
      else if (this.conn.retryAt) how = `Reconnecting in ${Math.max(0, Math.ceil((this.conn.retryAt - performance.now()) / 1000))} s…`;
      banner.textContent = `No status for ${Math.floor(age / 1000)} s: what is shown may be out of date. ${how}`;
    }
    if (!this.conn.open) this.renderConnection();
  }

  failed(err) {
    if (err.code === E_UNAUTHORIZED) {
      this.unauthorized = true;
      $("auth").hidden = false;
      this.render();
      return;
    }
    let text = err.message;
    const problems = err.data && err.data.problems;
    if (Array.isArray(problems) && problems.length) {
      text += ": " + problems.slice(0, 3).map((p) => `${p.file}:${p.line}:${p.col}: ${p.message}`).join("; ");
    }
    this.toast(text);
  }

  /** Call a method that answers with the status object, and draw it. */
  async act(method, params = {}) {
    try {
      const result = await this.conn.call(method, params);
      if (result && result.state) this.update(result);
      return result;
    } catch (err) {
      this.failed(err);
      return null;
    }
  }

  // ---- controls ----

  bind() {
    $("stop").addEventListener("pointerdown", () => this.stop());
    $("stop").addEventListener("click", (ev) => { if (ev.detail === 0) this.stop(); }); // keyboard
    document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") this.stop(); });
    $("pause").addEventListener("click", () => {
      const s = this.status;
      if (s && s.state === "paused") this.act("session.resume");
      else if (s && s.state === "running") this.act("session.pause");
    });
    $("ack").addEventListener("click", () => this.act("fault.acknowledge"));
    $("take").addEventListener("click", async () => {
      const c = this.status && this.status.controller;
      try {
        await this.conn.call("control.take", { force: Boolean(c && c.id !== this.status.you) });
        this.update(await this.conn.call("status.get"));
      } catch (err) { this.failed(err); }
    });
    $("profile").addEventListener("change", () => this.showProfile($("profile").value));
    const slider = $("intensity");
    slider.addEventListener("input", () => this.intensityChanged());
    $("int-down").addEventListener("click", () => { slider.value = Number(slider.value) - 5; this.intensityChanged(); });
    $("int-up").addEventListener("click", () => { slider.value = Number(slider.value) + 5; this.intensityChanged(); });
    const start = $("start");
    start.addEventListener("pointerdown", (ev) => { if (ev.button === 0) this.holdBegin(ev); });
    for (const name of ["pointerup", "pointerleave", "pointercancel"]) start.addEventListener(name, () => this.holdCancel());
    start.addEventListener("contextmenu", (ev) => ev.preventDefault());
    start.addEventListener("keydown", (ev) => {
      if ((ev.key === " " || ev.key === "Enter") && !ev.repeat) { ev.preventDefault(); this.holdBegin(ev); }
    });
    start.addEventListener("keyup", (ev) => { if (ev.key === " " || ev.key === "Enter") this.holdCancel(); });
    $("auth").addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.conn.token = $("auth-token").value.trim();
      storeToken(this.conn.token);
      $("auth").hidden = true;
      this.conn.restart();
    });
    window.addEventListener("resize", () => this.redrawTimeline());
    document.addEventListener("visibilitychange", () => { if (!document.hidden) this.conn.hurry(); });
    window.addEventListener("online", () => this.conn.hurry());
  }

  /** STOP: over the websocket, and over HTTP too when the socket is down or slow. No token needed. */
  stop() {
    if (this.stopping && performance.now() - this.stopping < 300) return; // one tap = pointerdown + click
    this.stopping = performance.now();
    this.toast("Stopping…");
    this.holdCancel();
    const viaHttp = () => fetch("/rpc", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "session.stop", params: {} }),
    }).then((r) => r.json()).then((m) => { if (m.error) throw new RpcError(m.error.code, m.error.message); return m.result; });
    const viaWs = this.conn.open ? this.conn.call("session.stop", {}, 1500) : Promise.reject(new RpcError(0, "offline"));
    viaWs.catch(() => viaHttp())
      .then((s) => { if (s && s.state) this.update(s); this.toast("Stopped: every output ramps to zero."); })
      .catch(() => this.toast("Could not reach the massager to stop it: use the button on the massager or switch it off."));
  }

  holdBegin(ev) {
    if ($("start").disabled || this.hold) return;
    if (ev.pointerId !== undefined) ev.preventDefault();
    const t0 = performance.now();
    const frame = () => {
      if (!this.hold) return;
      this.holdProgress(Math.min(1, (performance.now() - t0) / HOLD_MS));
      this.hold.raf = requestAnimationFrame(frame);
    };
    this.hold = {
      raf: requestAnimationFrame(frame),
      done: setTimeout(() => { this.holdCancel(); this.startSession(); }, HOLD_MS),
    };
    $("start").classList.add("holding");
    $("start-label").textContent = "Keep holding…";
  }

  holdCancel() {
    if (!this.hold) return;
    cancelAnimationFrame(this.hold.raf);
    clearTimeout(this.hold.done);
    this.hold = null;
    $("start").classList.remove("holding");
    $("start-label").textContent = this.startLabel();
    this.holdProgress(0);
  }

  startLabel() { return `Hold to start at ${$("intensity").value} %`; }

  holdProgress(p) {
    $("start-fill").style.transform = `scaleX(${p})`;
    $("start-progress").setAttribute("aria-valuenow", String(Math.round(p * 100)));
    $("start").dataset.progress = String(Math.round(p * 100));
  }

  async startSession() {
    const profile = $("profile").value;
    if (!profile) return;
    $("start-label").textContent = "Starting…";
    await this.act("session.start", { profile, intensity: Number($("intensity").value) / 100 });
    $("start-label").textContent = this.startLabel();
  }

  intensityChanged() {
    const slider = $("intensity");
    $("intensity-out").textContent = `${slider.value} %`;
    if (!this.hold) $("start-label").textContent = this.startLabel();
    this.touchedAt = performance.now();
    try { localStorage.setItem(INTENSITY_KEY, slider.value); } catch { /* this page only */ }
    const s = this.status;
    if (!s || (s.state !== "running" && s.state !== "paused")) return; // used by the next start
    this.wanted = Number(slider.value);
    const wait = THROTTLE_MS - (performance.now() - this.sentAt);
    clearTimeout(this.sendTimer);
    this.sendTimer = 0;
    if (wait <= 0) this.sendIntensity();
    else this.sendTimer = setTimeout(() => this.sendIntensity(), wait);
  }

  /** Send the value the user chose (kept in `wanted`: a status drawn meanwhile cannot change it). */
  async sendIntensity() {
    this.sendTimer = 0;
    if (this.wanted === null) return;
    const value = this.wanted;
    this.wanted = null;
    this.sentAt = performance.now();
    this.touchedAt = this.sentAt;
    this.inFlight += 1;
    try {
      await this.act("session.set_intensity", { value: value / 100 });
    } finally {
      this.inFlight -= 1;
      this.touchedAt = performance.now();
    }
  }

  /** Whether the user's own change is still on its way (chosen, waiting to be sent or answered). */
  intensityPending() {
    return this.wanted !== null || this.inFlight > 0 || performance.now() - this.touchedAt <= 1000;
  }

  // ---- status ----

  update(status) {
    const before = this.status;
    this.status = status;
    this.lastStatusAt = performance.now();
    if (before && before.state !== "idle" && status.state === "idle") this.loadHistory();
    this.render();
  }

  canControl() {
    const s = this.status;
    return Boolean(s) && (!s.controller || s.controller.id === s.you);
  }

  render() {
    const s = this.status;
    const live = this.conn.open && !this.unauthorized;
    const state = s ? s.state : "idle";
    document.body.dataset.state = state;
    $("state").textContent = s ? state : "connecting";
    const control = this.canControl();
    const session = state === "running" || state === "paused";

    $("fault").hidden = !(s && s.fault);
    if (s && s.fault) {
      $("fault-reason").textContent = s.fault.reason;
      const msg = (s.fault.message || "").trim();
      $("fault-msg").textContent = msg && !/[.!?]$/.test(msg) ? `${msg}.` : msg;
    }
    $("ack").disabled = !live;

    $("now-profile").textContent = s && s.profile && state !== "idle" ? s.profile : "Nothing is playing";
    $("now-bar").style.width = s && s.duration_ms ? `${Math.min(100, (100 * s.session_ms) / s.duration_ms)}%` : "0";
    const step = s && s.step;
    $("now-step").textContent = step ? `${step.index} of ${step.count}: ${step.label} (ends in ${clock(step.ends_in_ms)})` : "–";
    $("now-left").textContent = s && session ? clock(s.time_left_ms) : "–";
    const next = s && s.next_step;
    $("now-next").textContent = next ? `${next.index}: ${next.label}` : session ? "the end" : "–";
    const last = s && s.last_outcome;
    $("last").hidden = !(last && state === "idle");
    if (last) $("last").textContent = `Last session: ${last.outcome}${last.message ? `: ${last.message}` : ""}`;
    $("deadman").hidden = !(s && s.deadman_in_s != null && session && !s.controller);
    if (s && s.deadman_in_s != null) {
      $("deadman").textContent = `No one holds control: the session ramps down and pauses in ${Math.ceil(s.deadman_in_s)} s unless someone takes control.`;
    }
    const pause = $("pause");
    pause.textContent = state === "paused" ? "Resume" : "Pause";
    pause.disabled = !(live && session && control);
    pause.setAttribute("aria-label", state === "paused" ? "Resume the massage" : "Pause the massage");

    const slider = $("intensity");
    slider.disabled = session && !control;
    $("int-down").disabled = slider.disabled;
    $("int-up").disabled = slider.disabled;
    if (s && session && !this.intensityPending()) {
      slider.value = String(Math.round(s.intensity * 100));
      $("intensity-out").textContent = `${slider.value} %`;
    }

    $("profile").disabled = state !== "idle";
    if (s && s.profile && state !== "idle" && this.shown && this.shown.name !== s.profile) this.showProfile(s.profile);
    const start = $("start");
    start.disabled = !(live && state === "idle" && control && $("profile").value);
    start.hidden = state !== "idle" && state !== "fault";
    $("start-help").hidden = start.hidden;
    if (start.disabled) this.holdCancel();
    this.renderPlayhead();

    // The zones the rig reaches directly (not every toe of "toes"), when a describe told us.
    const reached = this.shown ? new Set(this.shown.actuators.flatMap((a) => a.zones)) : null;
    const zones = s ? Object.entries(s.zones || {}).filter(([z]) => !reached || reached.has(z)) : [];
    zones.sort(([a], [b]) => (ZONE_ORDER.indexOf(a) + 1 || 99) - (ZONE_ORDER.indexOf(b) + 1 || 99));
    drawBars($("zones"), zones.map(([z, v]) => [z, v, pretty(z)]));
    drawBars($("levels"), s ? Object.entries(s.levels || {}).map(([a, v]) => [a, v, pretty(a)]) : []);
    const temps = s ? Object.entries(s.temps || {}) : [];
    $("temps").replaceChildren(...(temps.length ? temps.map(([id, c]) => {
      const chip = el("span", "t", `${pretty(id)} `);
      chip.append(el("b", "", `${c.toFixed(1)} °C`));
      return chip;
    }) : [el("span", "muted", "none")]));

    const c = s && s.controller;
    let who = session ? "No one holds control of this session." : "No one holds control: starting a session takes it.";
    if (c && c.id === s.you) who = "You hold control.";
    else if (c) who = `Control is held by ${c.name}. You can watch and stop.`;
    if (s && s.clients > 1) who += ` ${s.clients} clients connected.`;
    $("controller").textContent = s ? who : "–";
    $("take").hidden = !(live && s && !control) && !(live && s && !c && session);
  }

  renderConnection(delay) {
    const box = $("conn");
    box.classList.toggle("up", this.conn.open);
    box.classList.toggle("down", !this.conn.open);
    let text = this.conn.open ? "connected" : "connecting";
    if (!this.conn.open && this.conn.retryAt) {
      const left = delay !== undefined ? delay : this.conn.retryAt - performance.now();
      text = `offline, retry in ${Math.max(0, Math.ceil(left / 1000))} s`;
    }
    $("conn-text").textContent = text;
  }

  renderAbout() {
    const i = this.info;
    if (!i) return;
    const deadman = i.deadman_s == null ? "off" : `${i.deadman_s} s`;
    $("about").textContent = `massager ${i.version} · device ${i.device} · rig ${i.rig} · dead-man ${deadman} · session cap ${clock(i.session_cap_ms)}`;
  }

  renderProfiles() {
    const select = $("profile");
    const keep = select.value || (this.status && this.status.profile) || (this.profiles[0] && this.profiles[0].name);
    select.replaceChildren(...this.profiles.map((p) => {
      const option = el("option", "", `${p.name} (${minutes(p.duration_ms)})`);
      option.value = p.name;
      return option;
    }));
    if (this.profiles.some((p) => p.name === keep)) select.value = keep;
    if (select.value) this.showProfile(select.value);
  }

  /** Show a profile's description, duration and timeline (asks profile.describe once per profile). */
  async showProfile(name) {
    const select = $("profile");
    if (select.value !== name && this.profiles.some((p) => p.name === name)) select.value = name;
    const listed = this.profiles.find((p) => p.name === name);
    $("desc").textContent = listed ? listed.description : "";
    $("dur").textContent = listed ? `${minutes(listed.duration_ms)} · ${listed.techniques.join(", ")}` : "";
    let desc = this.described.get(name);
    if (desc && desc.refused) return;
    if (!desc) {
      desc = this.conn.call("profile.describe", { profile: name });
      this.described.set(name, desc);
    }
    try {
      desc = await desc;
      this.described.set(name, desc);
    } catch (err) {
      // Not connected: ask again next time. Refused (say, an uploaded profile): do not ask again.
      if (err.code) this.described.set(name, { refused: err.message });
      else this.described.delete(name);
      return;
    }
    if (select.value !== name && !(this.status && this.status.profile === name)) return; // changed meanwhile
    this.shown = desc;
    $("desc").textContent = desc.description;
    $("dur").textContent = `${minutes(desc.duration_ms)} · ${desc.steps.length} steps`;
    $("warnings").replaceChildren(...desc.warnings.map((w) => el("li", "", w)));
    this.redrawTimeline();
    this.render();
  }

  redrawTimeline() {
    if (this.shown) drawTimeline($("timeline"), this.shown);
    this.renderPlayhead();
  }

  renderPlayhead() {
    const s = this.status, d = this.shown, head = $("playhead");
    const on = Boolean(s && d && ["running", "paused", "stopping"].includes(s.state) && s.profile === d.name);
    head.hidden = !on;
    if (!on) return;
    const canvas = $("timeline");
    const x = 14 + Math.min(1, s.session_ms / Math.max(1, d.duration_ms)) * (canvas.clientWidth - 18);
    head.style.left = `${x}px`;
  }

  async loadHistory() {
    try {
      const rows = await this.conn.call("history.list", { limit: 8 });
      $("history").replaceChildren(...(rows.length ? rows.map((r) => el("li", "",
        `${new Date(r.started_at).toLocaleString()} · ${r.profile} · ${clock(r.duration_ms)} · ${r.outcome}` +
        (r.faults.length ? ` (${r.faults.join(", ")})` : ""))) : [el("li", "muted", "no sessions yet")]));
    } catch { /* history is optional for the remote */ }
  }

  toast(text) {
    const box = $("toast");
    box.textContent = text;
    box.hidden = false;
    clearTimeout(this.toastTimer);
    this.toastTimer = setTimeout(() => { box.hidden = true; }, 6000);
  }
}

new Remote().start();
