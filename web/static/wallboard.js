// callcenter — supervisor wallboard (ES module; no inline script: CSP). Every value is set with
// textContent / setAttribute: nothing from the server is ever parsed as HTML.

const root = document.getElementById("wallboard");
const $ = (id) => document.getElementById(id);
const SVG = ["http:", "", "www.w3.org", "2000", "svg"].join("/"); // the SVG namespace (no URL literal: CSP test)

const model = {
  scopes: {}, // name -> scope view (server)
  chart: {}, // name -> Map(start -> row)
  agents: new Map(), // id -> row
  offset: 0, // server clock - browser clock (seconds)
  alerts: {}, // name -> Set of active alert flags
  dayStart: 0,
  interval: 900,
  lastUpdate: null, // the last message (tests read it)
  pbx: null, // PBX health: last Ping round trip, 5-minute history, alert (server: services/pbx_health)
};
window.wallboard = model;

const windowSel = $("wb-window");
const chartSel = $("wb-chart-scope");
const soundBox = $("wb-sound");
const phoneInput = $("wb-phone");

function serverNow() {
  return Date.now() / 1000 + model.offset;
}

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

const pct = (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)}%`);
const secs = (v) => (v === null || v === undefined ? "–" : `${Math.round(v)}s`);
function dur(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return "";
  s = Math.max(0, Math.floor(s));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${r}` : `${m}:${r}`;
}

// --- alerts: colour (CSS class) and a short beep (WebAudio, no media file) -----------------------
let audio = null;
function beep() {
  if (!soundBox.checked) return;
  try {
    audio = audio || new AudioContext();
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = 880;
    gain.gain.value = 0.15;
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.35);
  } catch (err) {
    /* audio unavailable: colour only */
  }
}

function checkAlerts(name, flags) {
  const before = model.alerts[name] || new Set();
  const now = new Set(flags || []);
  for (const f of now) if (!before.has(f)) beep();
  model.alerts[name] = now;
}

// --- tiles ---------------------------------------------------------------------------------------
function tile(key, label, value, cls = "", note = "") {
  const t = el("div", { class: `wb-tile ${cls}`, "data-kpi": key });
  t.append(el("span", { class: "v" }, value), el("span", { class: "k" }, label));
  if (note) t.append(el("span", { class: "note" }, note));
  return t;
}

function renderScope(name) {
  const view = model.scopes[name];
  if (!view) return;
  let card = document.querySelector(`.wb-scope[data-scope="${CSS.escape(name)}"]`);
  if (!card) {
    card = el("article", { class: "wb-scope", "data-scope": name });
    $("wb-scopes").append(card);
    sortScopes();
  }
  const w = view.windows[windowSel.value];
  const sl = view.service_level;
  const flags = new Set(view.alerts || []);
  card.className = `wb-scope${name === "*" ? " center" : ""}${flags.size ? " alert" : ""}`;
  const head = el("h2");
  head.append(el("span", {}, view.title), el("span", { class: "muted" }, windowSel.selectedOptions[0].textContent));
  const tiles = el("div", { class: "wb-tiles" });
  const slBad = w.service_level !== null && sl.target !== null && w.service_level < sl.target;
  const waitBad = flags.has("longest_wait");
  tiles.append(
    tile("offered", "Offered", String(w.offered)),
    tile("answered", "Answered", String(w.answered)),
    tile("abandoned", "Abandoned", String(w.abandoned), "", `short: ${w.abandoned_short}`),
    tile("service_level", "Service level", pct(w.service_level), slBad ? "bad" : w.service_level !== null ? "good" : "",
      `${sl.label} · target ${pct(sl.target)}`),
    tile("asa", "ASA", secs(w.asa)),
    tile("aht", "AHT", secs(w.aht), "", "talk+hold+wrap"),
    tile("abandon_rate", "Abandon rate", pct(w.abandon_rate), "", "excl. short"),
    tile("occupancy", "Occupancy", pct(w.occupancy)),
    tile("waiting", "Waiting", String(view.waiting), view.waiting ? "" : "good",
      view.callbacks_waiting ? `+${view.callbacks_waiting} callbacks` : ""),
  );
  const longest = tile("longest_wait", "Longest wait", dur(view.longest_wait), waitBad ? "bad" : "",
    sl.threshold !== null ? `threshold ${sl.threshold}s` : "");
  longest.dataset.base = String(view.longest_wait);
  longest.dataset.at = String(view._at || serverNow());
  tiles.append(longest, tile("staffed", "Staffed", String(view.staffed)));
  const states = el("div", { class: "wb-states", "data-kpi": "agents_by_state" });
  for (const [state, n] of Object.entries(view.agents_by_state).sort()) {
    states.append(el("span", { class: `st-${state}` }, `${state.replace("_", " ")}: ${n}`));
  }
  card.replaceChildren(head, tiles, states);
}

function sortScopes() {
  const box = $("wb-scopes");
  const cards = [...box.children].sort((a, b) =>
    a.dataset.scope === "*" ? -1 : b.dataset.scope === "*" ? 1 : a.dataset.scope.localeCompare(b.dataset.scope));
  box.replaceChildren(...cards);
}

// --- chart: bars (offered / answered / abandoned) and the service-level line, per 15 minutes -----
function renderChart() {
  const name = chartSel.value || "*";
  const box = $("wb-chart");
  const rows = [...(model.chart[name] || new Map()).values()].sort((a, b) => a.start - b.start);
  const W = 1200, H = 260, L = 40, R = 40, T = 10, B = 30;
  const now = serverNow();
  const first = model.dayStart || (rows.length ? rows[0].start : now - 3600);
  const slots = Math.max(1, Math.ceil((now - first) / model.interval));
  const maxCalls = Math.max(1, ...rows.map((r) => r.offered));
  const bw = (W - L - R) / slots;
  const y = (v) => T + (H - T - B) * (1 - v / maxCalls);
  const ySl = (v) => T + (H - T - B) * (1 - v);
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "calls and service level" });
  s.append(svg("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }));
  s.append(svg("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }));
  const top = svg("text", { x: 2, y: T + 10 });
  top.textContent = String(maxCalls);
  const right = svg("text", { x: W - R + 4, y: T + 10 });
  right.textContent = "100%";
  s.append(top, right);
  const target = model.scopes[name]?.service_level?.target;
  if (target) s.append(svg("line", { class: "target-line", x1: L, x2: W - R, y1: ySl(target), y2: ySl(target) }));
  const points = [];
  for (const r of rows) {
    const i = Math.floor((r.start - first) / model.interval);
    if (i < 0 || i >= slots) continue;
    const x = L + i * bw;
    const g = svg("g", { "data-start": r.start });
    const third = Math.max(1, bw / 3 - 1);
    g.append(
      svg("rect", { class: "bar-offered", x: x + 1, y: y(r.offered), width: third, height: H - B - y(r.offered) }),
      svg("rect", { class: "bar-answered", x: x + 1 + third, y: y(r.answered), width: third, height: H - B - y(r.answered) }),
      svg("rect", { class: "bar-abandoned", x: x + 1 + 2 * third, y: y(r.abandoned), width: third, height: H - B - y(r.abandoned) }),
    );
    const title = svg("title");
    const t = new Date(r.start * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    title.textContent = `${t}: offered ${r.offered}, answered ${r.answered}, abandoned ${r.abandoned}, SL ${pct(r.service_level)}`;
    g.append(title);
    s.append(g);
    if (r.service_level !== null) {
      points.push(`${x + bw / 2},${ySl(r.service_level)}`);
      s.append(svg("circle", { class: "sl-dot", cx: x + bw / 2, cy: ySl(r.service_level), r: 3.5 }));
    }
  }
  for (let i = 0; i <= slots; i += Math.max(1, Math.round(slots / 12))) {
    const label = svg("text", { x: L + i * bw, y: H - 10 });
    label.textContent = new Date((first + i * model.interval) * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    s.append(label);
  }
  if (points.length) s.append(svg("polyline", { class: "sl-line", points: points.join(" ") }));
  box.replaceChildren(s);
  $("wb-chart-title").textContent = name === "*" ? "(whole center)" : `(${name})`;
}

// --- PBX health: the Ping round trip, its recent history (sparkline) and the "PBX slow" alert -----
function renderPbx() {
  const h = model.pbx;
  const box = $("wb-pbx");
  if (!h) {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  const ping = $("wb-pbx-ping");
  ping.textContent = h.ping_ms === null ? "—" : `${h.ping_ms < 10 ? h.ping_ms.toFixed(1) : Math.round(h.ping_ms)} ms`;
  ping.title = h.ping_ms === null ? "no Ping answered yet" : `last Ping round trip at ${new Date(h.at * 1000).toLocaleTimeString()}`;
  const minutes = Math.round(h.history_seconds / 60);
  $("wb-pbx-note").textContent = h.max_ms === null
    ? `threshold ${h.threshold_ms} ms`
    : `max ${Math.round(h.max_ms)} ms in ${minutes} min · threshold ${h.threshold_ms} ms for ${h.slow_for} s`;
  const flags = h.alert ? ["pbx_slow"] : [];
  checkAlerts("pbx", flags);
  box.classList.toggle("alert", Boolean(h.alert));
  $("wb-pbx-alert").textContent = h.alert ? h.alert.message : "";
  // sparkline: the history on a fixed time axis (now - history .. now), y up to max(threshold, max) ms
  const W = 240, H = 40;
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": "Ping history" });
  const end = serverNow(), start = end - h.history_seconds;
  const top = Math.max(h.threshold_ms * 1.2, h.max_ms || 0, 1);
  const y = (ms) => (H - 2 - (Math.min(ms, top) / top) * (H - 4)).toFixed(1);
  const ty = y(h.threshold_ms);
  s.append(svg("line", { class: "pbx-threshold", x1: 0, x2: W, y1: ty, y2: ty }));
  const points = h.history.map(([at, ms]) => `${(((at - start) / (end - start)) * W).toFixed(1)},${y(ms)}`);
  if (points.length) s.append(svg("polyline", { class: "pbx-line", points: points.join(" ") }));
  $("wb-pbx-chart").replaceChildren(s);
}

// --- staffing ------------------------------------------------------------------------------------
// no figure (null: the queue would grow without bound) is shown as a dash with an explanation, never ∞
const UNSTABLE = "no finite wait: with this many agents the queue grows without bound";
const asaText = (v) => (v === null || v === undefined ? "—" : secs(v));
function renderStaffing() {
  const body = $("wb-staffing").tBodies[0];
  const rows = [];
  for (const [name, view] of Object.entries(model.scopes).sort()) {
    const st = view.staffing;
    if (!st) continue;
    const tr = el("tr", { "data-scope": name });
    const cells = [
      [name, ""], [st.rate_per_hour.toFixed(0), "num"], [st.next_rate_per_hour.toFixed(0), "num"], [secs(st.aht), "num"],
      [st.traffic_erlangs.toFixed(2), "num"], [String(st.needed_now), "num"], [String(st.needed_next), "num"],
      [String(st.staffed), "num"], [pct(st.sl_staffed), "num"], [pct(st.sl_minus_one), "num"], [pct(st.sl_plus_one), "num"],
      [`${asaText(st.asa_minus_one)} / ${asaText(st.asa_plus_one)}`, "num",
        st.asa_minus_one === null || st.asa_plus_one === null ? UNSTABLE : ""],
    ];
    for (const [text, cls, title] of cells) {
      const attrs = cls ? { class: cls } : {};
      if (title) attrs.title = title;
      tr.append(el("td", attrs, text));
    }
    if (st.staffed < st.needed_now) tr.classList.add("understaffed");
    rows.push(tr);
  }
  body.replaceChildren(...rows);
}

// --- agent grid with supervisor actions -----------------------------------------------------------
function actionButton(label, onClick, enabled = true) {
  const b = el("button", { type: "button" }, label);
  b.disabled = !enabled;
  b.addEventListener("click", onClick);
  return b;
}

function renderAgent(a) {
  const body = $("wb-agents").tBodies[0];
  let tr = body.querySelector(`tr[data-agent="${CSS.escape(a.agent)}"]`);
  if (!tr) {
    tr = el("tr", { "data-agent": a.agent });
    body.append(tr);
    [...body.rows].sort((x, y) => x.dataset.agent.localeCompare(y.dataset.agent)).forEach((r) => body.append(r));
  }
  const inCall = ["ringing", "on_call", "on_hold"].includes(a.state);
  const state = el("td", { class: "state" });
  state.append(el("span", { class: `st-${a.state}` }, a.state.replace("_", " ")));
  const actions = el("td");
  for (const mode of ["listen", "whisper", "barge"]) {
    actions.append(actionButton(mode, () => monitor(a.agent, mode), inCall));
  }
  const reason = el("select", { "aria-label": `pause reason for ${a.agent}` });
  for (const r of ["break", "lunch", "training", "coaching", "other"]) reason.append(el("option", { value: r }, r));
  actions.append(
    reason,
    actionButton("pause", () => agentState(a.agent, "pause", reason.value), a.state !== "logged_out"),
    actionButton("available", () => agentState(a.agent, "unpause"), a.state === "paused"),
    actionButton("log out", () => agentState(a.agent, "logout"), a.state !== "logged_out"),
  );
  const cells = [
    el("td", {}, `${a.name} (${a.agent})`),
    state,
    el("td", { class: "num ticking", "data-since": String(a.since || "") }, a.since ? dur(serverNow() - a.since) : ""),
    el("td", {}, a.reason || ""),
    el("td", {}, a.queue || ""),
    el("td", { class: "mono" }, a.call_id || ""),
    el("td", { class: "num ticking", "data-since": String(a.call_since || "") }, a.call_since ? dur(serverNow() - a.call_since) : ""),
    el("td", { class: "num", "data-kpi": "calls" }, String(a.calls)),
    actions,
  ];
  tr.replaceChildren(...cells);
}

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": root.dataset.csrf, Accept: "application/json" },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  const data = await response.json().catch(() => ({}));
  const msg = $("wb-message");
  if (!response.ok) {
    msg.className = "wb-message error";
    msg.textContent = data.error || `failed (${response.status})`;
  } else {
    msg.className = "wb-message";
    msg.textContent = `done: ${Object.entries(body).map(([k, v]) => `${k} ${v}`).join(", ")}`;
  }
  return response.ok;
}

function monitor(agent, mode) {
  const phone = phoneInput.value.trim();
  if (!root.dataset.phone) localStorage.setItem("wallboard.phone", phone);
  return post(`/api/supervisor/agents/${encodeURIComponent(agent)}/monitor`, { mode, phone });
}

function agentState(agent, action, reason) {
  return post(`/api/supervisor/agents/${encodeURIComponent(agent)}/state`, reason ? { action, reason } : { action });
}

// --- messages -----------------------------------------------------------------------------------
function apply(msg) {
  model.offset = msg.at - Date.now() / 1000;
  if (msg.type === "snapshot") {
    model.scopes = {};
    model.chart = {};
    model.agents.clear();
    model.dayStart = msg.day_start;
    model.interval = msg.interval_seconds;
    $("wb-scopes").replaceChildren();
    $("wb-agents").tBodies[0].replaceChildren();
  }
  for (const [name, view] of Object.entries(msg.scopes || {})) {
    view._at = msg.at;
    model.scopes[name] = view;
    checkAlerts(name, view.alerts);
    renderScope(name);
  }
  for (const [name, rows] of Object.entries(msg.chart || {})) {
    const map = model.chart[name] || (model.chart[name] = new Map());
    for (const r of rows) map.set(r.start, r);
  }
  for (const a of msg.agents || []) {
    const row = { ...(model.agents.get(a.agent) || { name: a.agent, queues: [] }), ...a }; // updates omit name, queues
    model.agents.set(a.agent, row);
    renderAgent(row);
  }
  const names = Object.keys(model.scopes).sort((a, b) => (a === "*" ? -1 : b === "*" ? 1 : a.localeCompare(b)));
  if (chartSel.options.length !== names.length) {
    const current = chartSel.value || "*";
    chartSel.replaceChildren(...names.map((n) => el("option", { value: n }, n === "*" ? "Whole center" : n)));
    chartSel.value = names.includes(current) ? current : "*";
  }
  if (msg.pbx !== undefined) {
    model.pbx = msg.pbx;
    renderPbx();
  }
  renderChart();
  renderStaffing();
  model.lastUpdate = msg;
  model.updates = (model.updates || 0) + 1;
  root.dataset.updates = String(model.updates);
}

// time-in-state, call time and longest wait tick locally between updates
setInterval(() => {
  const now = serverNow();
  for (const td of document.querySelectorAll("td.ticking")) {
    const since = Number(td.dataset.since);
    td.textContent = since ? dur(now - since) : "";
  }
  for (const t of document.querySelectorAll('[data-kpi="longest_wait"]')) {
    const base = Number(t.dataset.base);
    const v = t.querySelector(".v");
    if (v && base > 0) v.textContent = dur(base + now - Number(t.dataset.at));
  }
}, 1000);

let retry = 1000;
function connect() {
  const status = $("wb-status");
  const url = new URL(root.dataset.ws, location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(url);
  ws.addEventListener("open", () => {
    retry = 1000;
    status.textContent = "live";
    status.className = "wb-status live";
  });
  ws.addEventListener("message", (event) => {
    try {
      apply(JSON.parse(event.data));
    } catch (err) {
      console.error("wallboard message", err);
    }
  });
  ws.addEventListener("close", () => {
    status.textContent = "reconnecting…";
    status.className = "wb-status";
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 15000);
  });
}

windowSel.addEventListener("change", () => Object.keys(model.scopes).forEach(renderScope));
chartSel.addEventListener("change", renderChart);
if (!root.dataset.phone) phoneInput.value = localStorage.getItem("wallboard.phone") || "";
connect();
