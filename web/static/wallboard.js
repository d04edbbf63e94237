// callcenter — supervisor wallboard (ES module; no inline script: CSP). Every value is set with
// textContent / setAttribute: nothing from the server is ever parsed as HTML.

import { errorText, t } from "./i18n.js";
import { formatClock, formatNumber, label, LANG } from "./format.js";

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

const PCT = new Intl.NumberFormat(LANG, { style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 });
const pct = (v) => (v === null || v === undefined ? "–" : PCT.format(v));
const secs = (v) => (v === null || v === undefined ? "–" : t("{s} s", { s: Math.round(v) }));
const HHMM = new Intl.DateTimeFormat(LANG, { hour: "2-digit", minute: "2-digit" });
const TIME = new Intl.DateTimeFormat(LANG, { hour: "2-digit", minute: "2-digit", second: "2-digit" });

/** How the service level is computed (the server's convention and threshold), in the page's language. */
function slLabel(sl) {
  const th = sl.threshold === null || sl.threshold === undefined ? "T" : t("{s} s", { s: sl.threshold });
  const text = {
    answered: t("≤{t} / answered", { t: th }),
    answered_abandoned: t("≤{t} / answered+abandoned", { t: th }),
    asterisk_sl2: t("≤{t} incl. abandons ≤{t} (SL2)", { t: th }),
    offered: t("≤{t} / all queued", { t: th }),
  }[sl.convention];
  return text || sl.label;
}
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
  const box = el("div", { class: `wb-tile ${cls}`, "data-kpi": key });
  box.append(el("span", { class: "v" }, value), el("span", { class: "k" }, label));
  if (note) box.append(el("span", { class: "note" }, note));
  return box;
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
  head.append(el("span", {}, name === "*" ? t("Whole center") : view.title), el("span", { class: "muted" }, windowSel.selectedOptions[0].textContent));
  const tiles = el("div", { class: "wb-tiles" });
  const slBad = w.service_level !== null && sl.target !== null && w.service_level < sl.target;
  // the SL counts answered calls against the threshold by the convention named under it: a queue where
  // most calls are abandoned is flagged instead of shown green beside its abandon rate
  const mostlyAbandoned = w.abandon_rate !== null && w.abandon_rate !== undefined && w.abandon_rate >= 0.5;
  const slClass = slBad || mostlyAbandoned ? "bad" : w.service_level !== null ? "good" : "";
  const targetText = t("target {pct}", { pct: pct(sl.target) });
  const abandonedText = mostlyAbandoned ? t("most calls abandoned") : "";
  const slNote = [slLabel(sl), targetText, abandonedText].filter(Boolean).join(" · ");
  // occupancy is meaningless with nobody staffed: a dash, not a figure from earlier in the window
  const occupancy = view.staffed ? pct(w.occupancy) : "—";
  const waitBad = flags.has("longest_wait");
  tiles.append(
    tile("offered", t("Offered"), formatNumber(w.offered)),
    tile("answered", t("Answered"), formatNumber(w.answered)),
    tile("abandoned", t("Abandoned"), formatNumber(w.abandoned), "", t("short: {n}", { n: w.abandoned_short })),
    tile("service_level", t("Service level"), pct(w.service_level), slClass, slNote),
    tile("asa", t("ASA"), secs(w.asa)),
    tile("aht", t("AHT"), secs(w.aht), "", t("talk+hold+wrap")),
    tile("abandon_rate", t("Abandon rate"), pct(w.abandon_rate), "", t("excl. short")),
    tile("occupancy", t("Occupancy"), occupancy, "", view.staffed ? "" : t("nobody staffed")),
    tile("waiting", t("Waiting"), formatNumber(view.waiting), view.waiting ? "" : "good",
      view.callbacks_waiting ? t("+{n} callbacks", { n: view.callbacks_waiting }) : ""),
  );
  const longest = tile("longest_wait", t("Longest wait"), dur(view.longest_wait), waitBad ? "bad" : "",
    sl.threshold !== null ? t("threshold {s} s", { s: sl.threshold }) : "");
  longest.dataset.base = String(view.longest_wait);
  longest.dataset.at = String(view._at || serverNow());
  tiles.append(longest, tile("staffed", t("Staffed"), formatNumber(view.staffed)));
  const states = el("div", { class: "wb-states", "data-kpi": "agents_by_state" });
  for (const [state, n] of Object.entries(view.agents_by_state).sort()) {
    states.append(el("span", { class: `st-${state}` }, `${label(state)}: ${n}`));
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
  // from the hour of the day's first call (the center's opening, in practice), at most the last hour
  // when there is none yet: never a day of empty slots from midnight
  const busy = rows.find((r) => r.offered > 0);
  const from = Math.min(busy ? busy.start : now, now - 3600);
  const first = Math.max(model.dayStart || 0, Math.floor(from / 3600) * 3600);
  const slots = Math.max(1, Math.ceil((now - first) / model.interval));
  const maxCalls = Math.max(1, ...rows.map((r) => r.offered));
  const bw = (W - L - R) / slots;
  const y = (v) => T + (H - T - B) * (1 - v / maxCalls);
  const ySl = (v) => T + (H - T - B) * (1 - v);
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": t("calls and service level") });
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
    const at = HHMM.format(new Date(r.start * 1000));
    title.textContent = t("{at}: offered {offered}, answered {answered}, abandoned {abandoned}, SL {sl}", {
      at, offered: r.offered, answered: r.answered, abandoned: r.abandoned, sl: pct(r.service_level),
    });
    g.append(title);
    s.append(g);
    if (r.service_level !== null) {
      points.push(`${x + bw / 2},${ySl(r.service_level)}`);
      s.append(svg("circle", { class: "sl-dot", cx: x + bw / 2, cy: ySl(r.service_level), r: 3.5 }));
    }
  }
  for (let i = 0; i <= slots; i += Math.max(1, Math.round(slots / 12))) {
    const label = svg("text", { x: L + i * bw, y: H - 10 });
    label.textContent = HHMM.format(new Date((first + i * model.interval) * 1000));
    s.append(label);
  }
  if (points.length) s.append(svg("polyline", { class: "sl-line", points: points.join(" ") }));
  box.replaceChildren(s);
  $("wb-chart-title").textContent = name === "*" ? t("(whole center)") : `(${name})`;
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
  const ms = (v) => t("{ms} ms", { ms: v < 10 ? v.toFixed(1) : Math.round(v) });
  ping.textContent = h.ping_ms === null ? "—" : ms(h.ping_ms);
  ping.title = h.ping_ms === null ? t("no Ping answered yet") : t("last Ping round trip at {at}", { at: TIME.format(new Date(h.at * 1000)) });
  const minutes = Math.round(h.history_seconds / 60);
  $("wb-pbx-note").textContent = h.max_ms === null
    ? t("threshold {ms} ms", { ms: h.threshold_ms })
    : t("max {max} ms in {minutes} min · threshold {ms} ms for {s} s", {
      max: Math.round(h.max_ms), minutes, ms: h.threshold_ms, s: h.slow_for,
    });
  const flags = h.alert ? ["pbx_slow"] : [];
  checkAlerts("pbx", flags);
  box.classList.toggle("alert", Boolean(h.alert));
  $("wb-pbx-alert").textContent = h.alert ? t("PBX slow: Ping round trip {ping} for {s} s (threshold {ms} ms for {for} s)", {
    ping: h.ping_ms === null ? "—" : ms(h.ping_ms), s: Math.round(serverNow() - h.alert.since), ms: h.threshold_ms, for: h.slow_for,
  }) : "";
  // sparkline: the history on a fixed time axis (now - history .. now), y up to max(threshold, max) ms
  const W = 240, H = 40;
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": t("Ping history") });
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
const UNSTABLE = t("no finite wait: with this many agents the queue grows without bound");
const asaText = (v) => (v === null || v === undefined ? "—" : secs(v));
function renderStaffing() {
  const body = $("wb-staffing").tBodies[0];
  const rows = [];
  for (const [name, view] of Object.entries(model.scopes).sort()) {
    const st = view.staffing;
    if (!st) continue;
    const tr = el("tr", { "data-scope": name });
    const cells = [
      [name, ""], [formatNumber(Math.round(st.rate_per_hour)), "num"], [formatNumber(Math.round(st.next_rate_per_hour)), "num"], [secs(st.aht), "num"],
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

const MODE_BUTTONS = { listen: t("listen"), whisper: t("whisper"), barge: t("barge") };

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
  state.append(el("span", { class: `st-${a.state}` }, label(a.state)));
  const actions = el("td");
  for (const mode of ["listen", "whisper", "barge"]) {
    actions.append(actionButton(MODE_BUTTONS[mode], () => monitor(a.agent, mode), inCall));
  }
  const reason = el("select", { "aria-label": t("pause reason for {agent}", { agent: a.agent }) });
  for (const r of ["break", "lunch", "training", "coaching", "other"]) reason.append(el("option", { value: r }, label(r)));
  // forcing a state needs a reason: the pause code, or the note typed above the grid
  const note = () => $("wb-force-reason").value.trim();
  actions.append(
    reason,
    actionButton(t("pause"), () => agentState(a.agent, "pause", reason.value), a.state !== "logged_out"),
    actionButton(t("available"), () => agentState(a.agent, "unpause", note()), a.state === "paused"),
    actionButton(t("log out"), () => agentState(a.agent, "logout", note()), a.state !== "logged_out"),
  );
  const forced = model.forced[a.agent];
  const reasonCell = el("td", { "data-testid": `reason-${a.agent}` }, a.reason ? label(a.reason) : "");
  if (forced) {
    reasonCell.append(el("span", { class: "muted small wb-forced" },
      " " + t("{action} by {by} at {at}: {reason}", { action: label(forced.action), by: forced.by, at: formatClock(forced.at), reason: forced.reason })));
  }
  const cells = [
    el("td", {}, `${a.name} (${a.agent})`),
    state,
    el("td", { class: "num ticking", "data-since": String(a.since || "") }, a.since ? dur(serverNow() - a.since) : ""),
    reasonCell,
    el("td", {}, a.queue || ""),
    el("td", { class: "mono" }, a.call_id || ""),
    el("td", { class: "num ticking", "data-since": String(a.call_since || "") }, a.call_since ? dur(serverNow() - a.call_since) : ""),
    el("td", { class: "num", "data-kpi": "calls" }, formatNumber(a.calls)),
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
    msg.textContent = errorText(data, t("failed ({status})", { status: response.status }));
  } else {
    msg.className = "wb-message";
    msg.textContent = describe(body, data);
  }
  refreshMonitors();
  return response.ok;
}

function describe(body, data) {
  if (data.stopped) return t("Monitoring of agent {agent} stopped.", { agent: data.agent });
  if (data.session) return t("{mode} on agent {agent}: calling your phone {phone}…", { mode: label(data.mode), agent: data.agent, phone: data.phone || "" });
  if (data.state) {
    const why = body.reason ? ` (${label(body.reason)})` : "";
    return t("Agent {agent}: {state}{why}.", { agent: data.agent, state: label(data.state), why });
  }
  return t("Done.");
}

// --- live monitoring sessions: each listen/whisper/barge with its stop and mode switch -------------
model.forced = {};

function renderMonitors(monitors) {
  const list = $("wb-monitors");
  if (!list) return;
  if (!monitors.length) {
    list.replaceChildren(el("li", { class: "muted" }, t("No monitoring session.")));
    return;
  }
  list.replaceChildren(...monitors.map((m) => {
    const li = el("li", { "data-session": m.id, "data-testid": `monitor-${m.agent}` });
    li.append(el("strong", {}, t("{mode} · agent {agent}", { mode: label(m.mode), agent: m.agent })),
      el("span", { class: "muted" }, monitorNote(m)));
    for (const mode of ["listen", "whisper", "barge"]) {
      if (mode !== m.mode) {
        li.append(actionButton(`→ ${label(mode)}`, () => post(`/api/supervisor/monitors/${encodeURIComponent(m.id)}/mode`, { mode }), m.state === "active"));
      }
    }
    li.append(actionButton(t("Stop"), () => post(`/api/supervisor/monitors/${encodeURIComponent(m.id)}/stop`, {}), m.state === "active"));
    return li;
  }));
}

function monitorNote(m) {
  const since = t("{by}, since {at}", { by: m.by, at: formatClock(m.started_at) });
  const state = m.state === "active" ? t("connected") : t("ringing your phone");
  return ` ${since} — ${state} `;
}

async function refreshMonitors() {
  try {
    const r = await fetch("/api/supervisor/monitors", { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!r.ok) return;
    const data = await r.json();
    model.forced = data.forced || {};
    renderMonitors(data.monitors || []);
    for (const a of model.agents.values()) renderAgent(a);
  } catch (_err) { /* the next round tries again */ }
}
setInterval(refreshMonitors, 3000);
refreshMonitors();

function monitor(agent, mode) {
  const phone = phoneInput.value.trim();
  if (!root.dataset.phone) localStorage.setItem("wallboard.phone", phone);
  return post(`/api/supervisor/agents/${encodeURIComponent(agent)}/monitor`, { mode, phone });
}

function agentState(agent, action, reason) {
  if (!reason) {
    const msg = $("wb-message");
    msg.className = "wb-message error";
    msg.textContent = t("Type the reason for this change first (above the agents).");
    return Promise.resolve(false);
  }
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
    chartSel.replaceChildren(...names.map((n) => el("option", { value: n }, n === "*" ? t("Whole center") : n)));
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
  for (const box of document.querySelectorAll('[data-kpi="longest_wait"]')) {
    const base = Number(box.dataset.base);
    const v = box.querySelector(".v");
    if (v && base > 0) v.textContent = dur(base + now - Number(box.dataset.at));
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
    status.textContent = t("live");
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
    status.textContent = t("reconnecting…");
    status.className = "wb-status";
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 15000);
  });
}

windowSel.addEventListener("change", () => Object.keys(model.scopes).forEach(renderScope));
chartSel.addEventListener("change", renderChart);
if (!root.dataset.phone) phoneInput.value = localStorage.getItem("wallboard.phone") || "";
connect();
