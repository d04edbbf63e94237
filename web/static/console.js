// Agent console (ES module; CSP: no inline scripts). Every value that comes from a caller, a customer
// record or a note is rendered with textContent / DOM nodes — never innerHTML with data.

import { errorText, t } from "./i18n.js";
import { formatSeconds, formatShort, label } from "./format.js";

const root = document.getElementById("console");

const $ = (id) => document.getElementById(id);

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function show(node, on) {
  node.classList.toggle("hidden", !on);
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

function when(epoch) {
  if (epoch === null || epoch === undefined) return "";
  return formatShort(epoch);
}

const LABELS = {
  logged_out: t("Logged out"),
  available: t("Available"),
  ringing: t("Ringing"),
  on_call: t("On call"),
  on_hold: t("On hold"),
  wrapup: t("Wrap-up"),
  paused: t("Paused"),
  busy: t("Busy"),
};
const CATEGORY = {
  inquiry: t("Inquiry"),
  complaint: t("Complaint"),
  after_sales: t("After-sales (RMA)"),
  follow_up: t("Follow-up"),
};

const model = {
  agent: root ? root.dataset.agent : null,
  csrf: root ? root.dataset.csrf : "",
  state: null, // agent view (state, since, reason, queue, call_id)
  since: 0, // epoch seconds (server clock) the state started
  skew: 0, // server now - browser now (seconds)
  pop: null,
  held: false,
  heldSince: null, // epoch seconds (server clock) the console's hold started
  queues: [],
  agents: [],
};

// --- server calls ------------------------------------------------------------------------------------

async function api(path, body, method = "POST") {
  const init = { method, headers: { "X-CSRF-Token": model.csrf, Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  let data = null;
  try {
    data = await resp.json();
  } catch (_) {
    data = null;
  }
  if (!resp.ok) {
    let message = errorText(data, `${resp.status} ${resp.statusText}`);
    if (data && data.fields) {
      message += t(": ") + Object.entries(data.fields).map(([k, v]) => `${t(k)}: ${v}`).join("; ");
    }
    throw new Error(message);
  }
  return data;
}

function report(node, error) {
  if (!node) return;
  if (error) {
    node.textContent = error.message || String(error);
    show(node, true);
  } else {
    node.textContent = "";
    show(node, false);
  }
}

async function act(errorNode, fn) {
  report(errorNode, null);
  try {
    return await fn();
  } catch (error) {
    report(errorNode, error);
    return null;
  }
}

// --- agent state ------------------------------------------------------------------------------------

function setState(view) {
  if (!view) return;
  model.state = view;
  if (typeof view.now === "number") model.skew = view.now - Date.now() / 1000;
  model.since = view.since || Date.now() / 1000 + model.skew;
  if (typeof view.held_by_console === "boolean") model.held = view.held_by_console;
  model.heldSince = model.held && typeof view.held_since === "number" ? view.held_since : model.held ? model.heldSince : null;
  if (Array.isArray(view.pause_reasons)) {
    const select = $("pause-reason");
    if (select.options.length !== view.pause_reasons.length) {
      clear(select);
      for (const reason of view.pause_reasons) select.append(new Option(label(reason), reason));
    }
  }
  renderState();
}

function renderState() {
  const s = model.state ? model.state.state : "logged_out";
  const badge = $("state");
  badge.textContent = LABELS[s] || s;
  badge.className = `state state-${s}`;
  const reason = (model.state && (model.state.reason || model.state.pending_pause)) || "";
  $("state-reason").textContent = model.state && model.state.pending_pause
    ? t("Pause ({reason}) after this call", { reason: label(model.state.pending_pause) })
    : reason === "disposition_required" ? t("Set a disposition code: the wrap-up waits for it")
    : reason === "call_lost" ? t("The phone system lost the call: wrap-up ends on its timer")
    : reason ? t("Reason: {reason}", { reason: label(reason) }) : "";
  const loggedOut = s === "logged_out";
  const inCall = s === "ringing" || s === "on_call" || s === "on_hold";
  $("btn-login").disabled = !loggedOut;
  $("btn-logout").disabled = loggedOut;
  $("btn-available").disabled = s === "available" || inCall;
  $("btn-wrapup").disabled = s !== "wrapup";
  show($("btn-wrapup"), s === "wrapup");
  const live = s === "on_call" || s === "on_hold";
  $("btn-hold").disabled = !live;
  $("btn-hold").textContent = model.held ? t("Resume") : t("Hold");
  $("btn-hold").classList.toggle("btn-ok", model.held);
  show($("hold-banner"), model.held && live);
  $("btn-hangup").disabled = !(live || s === "ringing" || hasDialing());
  $("btn-transfer").disabled = !live;
  renderCallSummary();
  tick();
}

function hasDialing() {
  return model.pop && model.pop.phase === "dialing";
}

function renderCallSummary() {
  const summary = $("call-summary");
  const pop = model.pop;
  const s = model.state ? model.state.state : "logged_out";
  if (!pop || ["ended", "missed"].includes(pop.phase) && !["on_call", "on_hold", "wrapup"].includes(s)) {
    summary.textContent = pop && pop.phase === "missed" ? t("Missed call.") : t("No call.");
    return;
  }
  const who = (pop.customer && pop.customer.name) || pop.call.caller_name || pop.call.caller_num || t("Unknown caller");
  const outbound = t("outbound");
  const where = pop.call.queue ? ` · ${pop.call.queue}` : pop.direction === "outbound" ? ` · ${outbound}` : "";
  summary.textContent = `${who}${where} · ${LABELS[s] || label(pop.phase)}`;
}

function tick() {
  const now = Date.now() / 1000 + model.skew;
  $("state-time").textContent = model.state ? duration(now - model.since) : "";
  const s = model.state ? model.state.state : "";
  $("call-timer").textContent = s === "on_call" || s === "on_hold" || s === "ringing" ? duration(now - model.since) : "";
  $("hold-timer").textContent = model.held ? duration(now - (model.heldSince || now)) : "";
}

// --- the screen pop ----------------------------------------------------------------------------------

function renderPop(pop) {
  model.pop = pop;
  show($("pop-empty"), !pop);
  show($("pop"), !!pop);
  if (!pop) {
    renderCallSummary();
    return;
  }
  const call = pop.call;
  const customer = pop.customer || null;
  $("pop-caller").textContent = (customer && customer.name) || call.caller_name || call.caller_num || t("Unknown caller");
  show($("pop-vip"), Boolean((customer && customer.vip) || call.vip));
  const phase = $("pop-phase");
  phase.textContent = label(pop.phase);
  phase.className = `badge phase phase-${pop.phase}`;
  $("pop-number").textContent = call.caller_name && customer ? `${call.caller_num} (${call.caller_name})` : call.caller_num;
  $("pop-queue").textContent = call.queue || (pop.direction === "outbound" ? t("outbound call") : "—");
  $("pop-wait").textContent = pop.direction === "outbound" ? "—" : duration(call.wait || 0);
  $("pop-ivr").textContent = call.ivr_choices && call.ivr_choices.length ? call.ivr_choices.join(" › ") : "—";
  const inputs = Object.entries(call.ivr_inputs || {});
  $("pop-inputs").textContent = inputs.length ? inputs.map(([k, v]) => `${k.replaceAll("_", " ")}: ${v}`).join(", ") : "—";

  show($("card-loading"), Boolean(pop.loading));
  report($("card-error"), pop.card_error ? new Error(pop.card_error) : null);
  show($("customer-facts"), Boolean(customer));
  show($("cust-link-p"), Boolean(customer));
  const form = $("new-customer");
  show(form, !customer && !pop.loading);
  if (!customer && !pop.loading && form.dataset.filledFor !== call.call_id) {
    form.reset();
    form.elements.phones.value = call.caller_num || "";
    form.dataset.filledFor = call.call_id;
  }
  if (customer) {
    $("cust-name").textContent = customer.name;
    $("cust-company").textContent = customer.company || "—";
    const seg = $("cust-segment");
    seg.textContent = label(customer.segment);
    seg.className = `segment segment-${customer.segment}`;
    const phones = $("cust-phones");
    clear(phones);
    for (const p of customer.phones) phones.append(el("span", p, "mono phone"));
    $("cust-email").textContent = customer.email || "—";
    const tags = $("cust-tags");
    clear(tags);
    for (const tag of customer.tags) {
      tags.append(el("span", tag, "tag"), document.createTextNode(" "));
    }
    if (!customer.tags.length) tags.textContent = "—";
    $("cust-link").href = `/customers/${encodeURIComponent(customer.id)}`;
  }
  renderNotes(pop.notes || []);
  renderTickets(pop.tickets || []);
  renderHistory(pop.recent_calls || []);
  renderDisposition(pop);
  for (const id of ["note-form", "ticket-details"]) show($(id), Boolean(customer));
  renderState();
}

function renderNotes(notes) {
  const list = $("notes");
  clear(list);
  if (!notes.length) list.append(el("li", t("No notes yet."), "muted"));
  for (const n of notes) {
    const li = el("li", null, "note");
    const meta = el("div", null, "note-meta");
    meta.append(el("strong", n.author), document.createTextNode(` · ${when(n.at)}`));
    li.append(meta, el("div", n.text, "note-text"));
    list.append(li);
  }
}

function renderTickets(tickets) {
  const body = $("tickets");
  clear(body);
  if (!tickets.length) {
    const tr = el("tr");
    const td = el("td", t("No open tickets."), "muted");
    td.colSpan = 7;
    tr.append(td);
    body.append(tr);
  }
  for (const tk of tickets) {
    const tr = el("tr");
    tr.dataset.ticket = String(tk.id);
    const link = el("a", `#${tk.id}`);
    link.href = `/tickets/${encodeURIComponent(tk.id)}`;
    const first = el("td");
    first.append(link);
    const due = el("td", when(tk.due_at));
    if (tk.overdue) due.append(document.createTextNode(" "), el("span", t("overdue"), "overdue"));
    const edit = el("button", t("Edit"), "btn btn-small btn-quiet");
    edit.type = "button";
    edit.addEventListener("click", () => editTicket(tk));
    const last = el("td");
    last.append(edit);
    tr.append(
      first,
      el("td", tk.subject),
      el("td", CATEGORY[tk.category] || tk.category),
      el("td", label(tk.priority), `priority priority-${tk.priority}`),
      el("td", label(tk.status), `status status-${tk.status}`),
      due,
      last,
    );
    body.append(tr);
  }
}

function renderHistory(calls) {
  const body = $("history");
  clear(body);
  if (!calls.length) {
    const tr = el("tr");
    const td = el("td", t("No earlier calls."), "muted");
    td.colSpan = 7;
    tr.append(td);
    body.append(tr);
  }
  for (const c of calls) {
    const disp = (c.dispositions || []).map((d) => (d.note ? `${label(d.code)} — ${d.note}` : label(d.code))).join("; ");
    const tr = el("tr");
    body.append(tr);
    tr.append(
      el("td", when(c.started_at)),
      el("td", c.queue || ""),
      el("td", c.agent || "", "mono"),
      el("td", label(c.outcome), `outcome outcome-${c.outcome}`),
      el("td", disp || "—"),
      el("td", formatSeconds(c.talk_seconds), "num"),
      recordingCell(c),
    );
  }
}

function recordingCell(c) {
  // a play control only where the server says this agent may hear it (their own call); the audio
  // route checks the same rule and audits each playback
  const td = el("td");
  if (typeof c.audio_url === "string" && c.audio_url.startsWith("/api/recordings/")) {
    const audio = document.createElement("audio");
    audio.controls = true;
    audio.preload = "none";
    audio.className = "rec-audio";
    audio.src = c.audio_url;
    audio.setAttribute("aria-label", t("Recording of the call of {when}", { when: when(c.started_at) }));
    td.append(audio);
  } else {
    td.textContent = c.has_recording ? t("recorded") : "—";
  }
  return td;
}

function renderDisposition(pop) {
  const rules = pop.disposition || { codes: [], required: false };
  const select = $("disp-code");
  const current = pop.disposition_set ? pop.disposition_set.code : select.value;
  clear(select);
  select.append(new Option(t("— choose —"), ""));
  for (const code of rules.codes) select.append(new Option(label(code), code));
  select.value = rules.codes.includes(current) ? current : "";
  $("disp-required").textContent = rules.required ? t("(required before wrap-up ends)") : "";
  if (pop.disposition_set && document.activeElement !== $("disp-note")) {
    $("disp-note").value = pop.disposition_set.note || "";
  }
  show($("disp-saved"), Boolean(pop.disposition_set));
}

function editTicket(tk) {
  const form = $("ticket-form");
  form.elements.ticket_id.value = String(tk.id);
  form.elements.subject.value = tk.subject;
  form.elements.category.value = tk.category;
  form.elements.priority.value = tk.priority;
  form.elements.status.value = tk.status === "new" ? "" : tk.status;
  form.elements.assignee.value = tk.assignee || "";
  form.elements.due_at.value = tk.due_at ? localInput(tk.due_at) : "";
  $("ticket-summary").textContent = t("Update ticket #{id}", { id: tk.id });
  $("ticket-submit").textContent = t("Update ticket");
  $("ticket-details").open = true;
}

function resetTicketForm() {
  const form = $("ticket-form");
  form.reset();
  form.elements.ticket_id.value = "";
  $("ticket-summary").textContent = t("New ticket for this call");
  $("ticket-submit").textContent = t("Create ticket");
}

function localInput(epoch) {
  const d = new Date(epoch * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function renderFollowups(items) {
  const list = $("followups");
  clear(list);
  if (!items || !items.length) {
    list.append(el("li", t("None due."), "muted"));
    return;
  }
  for (const tk of items) {
    const li = el("li", null, "followup");
    const link = el("a", tk.subject);
    link.href = `/tickets/${encodeURIComponent(tk.id)}`;
    const due = t("due {when}", { when: when(tk.due_at) });
    li.append(link, el("span", ` · ${due}`, "muted small"));
    list.append(li);
  }
}

// --- websocket ---------------------------------------------------------------------------------------

let socket = null;
let retry = 0;

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${scheme}//${location.host}/ws/agent`);
  socket.addEventListener("open", () => {
    retry = 0;
    const link = $("link");
    link.textContent = t("live");
    link.className = "link-state link-up";
  });
  socket.addEventListener("message", (event) => {
    let msg;
    try {
      msg = JSON.parse(event.data);
    } catch (_) {
      return;
    }
    onMessage(msg);
  });
  socket.addEventListener("close", () => {
    const link = $("link");
    link.textContent = t("reconnecting…");
    link.className = "link-state link-down";
    retry = Math.min(retry + 1, 6);
    setTimeout(connect, 250 * 2 ** retry);
  });
}

function onMessage(msg) {
  if (msg.type === "hello") {
    setState(msg.state);
    model.queues = msg.queues || [];
    model.agents = msg.agents || [];
    fillTargets();
    renderPop(msg.pop || null);
    renderFollowups(msg.followups);
  } else if (msg.type === "pop") {
    if (!model.pop || model.pop.pop_id !== msg.pop_id) {
      resetTicketForm();
      $("disp-note").value = "";
      model.held = false;
    }
    renderPop(msg);
  } else if (msg.type === "agent.state") {
    model.state = Object.assign({}, model.state || {}, {
      state: msg.state,
      reason: msg.reason,
      call_id: msg.call_id,
      queue: msg.queue,
      pending_pause: null,
    });
    // time in state counts from when this browser learned of the change (event times may come from
    // the PBX's clock); a reload takes the server's own since/now pair (hello)
    model.since = Date.now() / 1000 + model.skew;
    if (model.pop && msg.phase && model.pop.call.call_id === msg.call_id) model.pop.phase = msg.phase;
    if (!["on_call", "on_hold"].includes(msg.state)) {
      model.held = false;
      model.heldSince = null;
    }
    if (model.pop) renderPop(model.pop);
    else renderState();
  }
}

function fillTargets() {
  const kind = $("transfer-kind").value;
  const list = $("transfer-targets");
  clear(list);
  const values = kind === "queue" ? model.queues : kind === "agent" ? model.agents : [];
  for (const v of values) list.append(new Option(v, v));
}

// --- wiring ------------------------------------------------------------------------------------------

function wire() {
  const agentError = $("agent-error");
  const callError = $("call-error");
  const stateAction = (path, body) => act(agentError, async () => setState(await api(path, body)));
  $("btn-login").addEventListener("click", () => stateAction("/api/console/login"));
  $("btn-logout").addEventListener("click", () => stateAction("/api/console/logout"));
  $("btn-available").addEventListener("click", () => stateAction("/api/console/available"));
  $("btn-wrapup").addEventListener("click", () => stateAction("/api/console/wrapup/end"));
  $("pause-form").addEventListener("submit", (e) => {
    e.preventDefault();
    stateAction("/api/console/pause", { reason: $("pause-reason").value });
  });
  $("btn-hold").addEventListener("click", () =>
    act(callError, async () => {
      const r = await api("/api/console/call/hold", { on: !model.held });
      model.held = r.held;
      model.heldSince = r.held ? (typeof r.since === "number" ? r.since : Date.now() / 1000 + model.skew) : null;
      renderState();
    }),
  );
  $("btn-hangup").addEventListener("click", () => act(callError, () => api("/api/console/call/hangup")));
  $("transfer-kind").addEventListener("change", fillTargets);
  $("transfer-form").addEventListener("submit", (e) => {
    e.preventDefault();
    act(callError, () =>
      api("/api/console/call/transfer", { kind: $("transfer-kind").value, target: $("transfer-target").value }),
    );
  });
  $("dial-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const body = { number: $("dial-number").value };
    act(callError, () => api("/api/console/dial", body));
  });
  $("btn-dismiss").addEventListener("click", () =>
    act(callError, async () => {
      await api("/api/console/pop/dismiss");
      renderPop(null);
    }),
  );

  $("new-customer").addEventListener("submit", (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    const err = form.querySelector("[data-error]");
    const f = form.elements;
    act(err, async () => {
      const body = { name: f.name.value, segment: f.segment.value, phones: f.phones.value ? [f.phones.value] : [] };
      if (f.company.value) body.company = f.company.value;
      if (f.email.value) body.email = f.email.value;
      const customer = await api("/api/customers", body);
      const r = await api("/api/console/pop/customer", { customer_id: customer.id });
      if (r.pop) renderPop(r.pop);
    });
  });

  $("note-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    const text = $("note-text").value.trim();
    if (!text || !model.pop || !model.pop.customer) return;
    act(form.querySelector("[data-error]"), async () => {
      await api(`/api/customers/${encodeURIComponent(model.pop.customer.id)}/notes`, { text });
      $("note-text").value = "";
      const r = await api("/api/console/pop/refresh");
      if (r.pop) renderPop(r.pop);
    });
  });

  $("disp-form").addEventListener("submit", (e) => {
    e.preventDefault();
    if (!model.pop) return;
    act($("disp-error"), async () => {
      await api("/api/console/disposition", {
        call_id: model.pop.call.call_id,
        code: $("disp-code").value,
        note: $("disp-note").value,
      });
      model.pop.disposition_set = { code: $("disp-code").value, note: $("disp-note").value };
      show($("disp-saved"), true);
    });
  });

  $("ticket-followup").addEventListener("click", () => {
    const f = $("ticket-form").elements;
    f.category.value = "follow_up";
    if (!f.subject.value) f.subject.value = t("Follow-up call");
    if (!f.due_at.value) f.due_at.value = localInput(Date.now() / 1000 + 86400);
    if (!f.assignee.value) f.assignee.value = model.agent;
    f.subject.focus();
  });

  $("ticket-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    const f = form.elements;
    if (!model.pop || !model.pop.customer) return;
    act(form.querySelector("[data-error]"), async () => {
      const due = f.due_at.value ? new Date(f.due_at.value).getTime() / 1000 : null;
      const assignee = f.assignee.value.trim() === "me" ? model.agent : f.assignee.value.trim();
      const id = f.ticket_id.value;
      if (id) {
        const body = { subject: f.subject.value, category: f.category.value, priority: f.priority.value };
        if (f.status.value) body.status = f.status.value;
        body.assignee = assignee;
        body.due_at = due;
        await api(`/api/tickets/${encodeURIComponent(id)}`, body, "PATCH");
      } else {
        const body = {
          customer_id: model.pop.customer.id,
          subject: f.subject.value,
          category: f.category.value,
          priority: f.priority.value,
          description: f.description.value,
          call_id: model.pop.call.call_id,
        };
        if (assignee) body.assignee = assignee;
        if (due !== null) body.due_at = due;
        const ticket = await api("/api/tickets", body);
        if (f.status.value && f.status.value !== "new") {
          const path = { open: ["open"], pending: ["open", "pending"], resolved: ["open", "resolved"] };
          const steps = path[f.status.value] || ["open", "resolved", "closed"];
          for (const status of steps) await api(`/api/tickets/${ticket.id}`, { status }, "PATCH");
        }
      }
      resetTicketForm();
      $("ticket-details").open = false;
      const r = await api("/api/console/pop/refresh");
      if (r.pop) renderPop(r.pop);
      const fu = await api("/api/console/followups", undefined, "GET");
      renderFollowups(fu.followups);
    });
  });
}

if (root) {
  wire();
  connect();
  setInterval(tick, 1000);
}
