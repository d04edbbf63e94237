// QA pages: call search, scoring a call, legal holds, calibration (issue #8). No inline scripts (CSP).

import { errorText, t } from "./i18n.js";
import { formatTime, label } from "./format.js";

const PAGE_SIZE = 25;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function fmt(value, digits = 0) {
  return value === null || value === undefined ? "—" : Number(value).toFixed(digits);
}

async function api(path, { method = "GET", body, csrf } = {}) {
  const init = { method, headers: { Accept: "application/json" } };
  if (csrf) init.headers["X-CSRF-Token"] = csrf;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(errorText(data, `HTTP ${resp.status}`));
  return data;
}

// -- search ------------------------------------------------------------------------------------------

function initSearch(root) {
  const form = root.querySelector("#qa-filters");
  const rows = root.querySelector("#qa-rows");
  const status = root.querySelector("#qa-status");
  const pageLabel = root.querySelector("#qa-page");
  let offset = 0;
  let total = 0;

  function params() {
    const out = new URLSearchParams();
    for (const [name, value] of new FormData(form).entries()) {
      if (value === "") continue;
      if (name === "since" || name === "until") out.set(name, String(Date.parse(value + "Z") / 1000));
      else out.set(name, String(value));
    }
    out.set("limit", String(PAGE_SIZE));
    out.set("offset", String(offset));
    return out;
  }

  async function run() {
    status.textContent = t("Searching…");
    try {
      const data = await api(`/api/qa/calls?${params()}`);
      total = data.total;
      rows.replaceChildren(
        ...data.calls.map((c) =>
          el(
            "tr",
            { "data-call": c.call_id },
            el("td", {}, el("a", { href: `/qa/calls/${encodeURIComponent(c.call_id)}`, text: formatTime(c.started_at_iso) })),
            el("td", { text: `${c.caller_num} ${c.caller_name}`.trim() }),
            el("td", { text: c.queue || "—" }),
            el("td", { text: c.agent || "—" }),
            el("td", { text: label(c.outcome) }),
            el("td", { text: fmt(c.wait_seconds) }),
            el("td", { text: fmt(c.talk_seconds) }),
            el("td", { text: c.recordings ? "▶" : "" }),
            el("td", { text: fmt(c.score, 1) }),
            el("td", { "data-testid": "qa-csat", text: c.csat == null ? "—" : `${c.csat}/5` }),
          ),
        ),
      );
      const last = Math.min(offset + PAGE_SIZE, total);
      status.textContent = t("{n} call(s)", { n: total });
      pageLabel.textContent = total ? t("{first}–{last} of {total}", { first: offset + 1, last, total }) : "";
    } catch (err) {
      status.textContent = t("Search failed: {error}", { error: err.message });
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    offset = 0;
    run();
  });
  root.querySelector("#qa-prev").addEventListener("click", () => {
    if (offset > 0) {
      offset = Math.max(0, offset - PAGE_SIZE);
      run();
    }
  });
  root.querySelector("#qa-next").addEventListener("click", () => {
    if (offset + PAGE_SIZE < total) {
      offset += PAGE_SIZE;
      run();
    }
  });
  run();
}

// -- one call ----------------------------------------------------------------------------------------

function initCall(root) {
  const callId = root.dataset.call;
  const csrf = root.dataset.csrf;
  for (const form of root.querySelectorAll(".qa-score-form")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const out = form.querySelector(".qa-result");
      const answers = {};
      for (const q of form.querySelectorAll(".qa-question")) {
        const name = `${form.dataset.form}-${q.dataset.question}`;
        const checked = q.querySelector(`input[type=radio][name="${name}"]:checked`);
        const select = q.querySelector(`select[name="${name}"]`);
        let raw = checked ? checked.value : select ? select.value : null;
        if (raw === null) {
          out.textContent = t("Answer every question.");
          return;
        }
        const comment = q.querySelector(".qa-comment").value;
        answers[q.dataset.question] = { value: raw === "na" ? null : Number(raw), comment };
      }
      try {
        const data = await api(`/api/qa/calls/${encodeURIComponent(callId)}/evaluations`, {
          method: "POST",
          csrf,
          body: { form_id: Number(form.dataset.form), answers, comment: form.elements.comment.value },
        });
        const ev = data.evaluation;
        const failed = ev.failed ? t("(instant fail)") : "";
        out.textContent = `${t("Saved: score {score}", { score: ev.score.toFixed(2) })} ${failed}`.trim();
      } catch (err) {
        out.textContent = t("Not saved: {error}", { error: err.message });
      }
    });
  }
  for (const button of root.querySelectorAll(".qa-ack")) {
    button.addEventListener("click", async () => {
      try {
        const data = await api(`/api/qa/evaluations/${button.dataset.id}/acknowledge`, { method: "POST", csrf });
        button.replaceWith(document.createTextNode(data.evaluation.acknowledged_by));
      } catch (err) {
        button.textContent = t("Failed: {error}", { error: err.message });
      }
    });
  }
  for (const button of root.querySelectorAll(".qa-hold-toggle")) {
    button.addEventListener("click", async () => {
      const held = button.dataset.held !== "true";
      try {
        await api(`/api/recordings/${button.dataset.id}/hold`, { method: "POST", csrf, body: { held } });
        window.location.reload();
      } catch (err) {
        button.textContent = t("Failed: {error}", { error: err.message });
      }
    });
  }
}

// -- calibration -------------------------------------------------------------------------------------

async function initCalibration(root) {
  const status = root.querySelector("#qa-cal-status");
  const rows = root.querySelector("#qa-cal-rows");
  try {
    const data = await api(`/api/qa/calls/${encodeURIComponent(root.dataset.call)}/calibration`);
    const cal = data.calibration;
    const texts = {};
    for (const s of data.form.sections) for (const q of s.questions) texts[q.id] = q.text;
    const line = (label, s, cls = "") =>
      el(
        "tr",
        { class: cls },
        el("td", { text: label }),
        el("td", { text: String(s.n) }),
        el("td", { text: fmt(s.min, 2) }),
        el("td", { text: fmt(s.max, 2) }),
        el("td", { text: fmt(s.mean, 2) }),
        el("td", { text: fmt(s.stddev, 2) }),
      );
    rows.replaceChildren(
      ...Object.entries(cal.questions).map(([qid, s]) => line(texts[qid] || qid, s)),
      line(t("Total score"), cal.total, "qa-total"),
    );
    status.textContent = t("{form}: {n} evaluator(s): {names}", { form: data.form.name, n: cal.evaluators.length, names: cal.evaluators.join(", ") });
  } catch (err) {
    status.textContent = t("No calibration: {error}", { error: err.message });
  }
}

const root = document.querySelector(".qa[data-page]");
if (root) {
  const page = root.dataset.page;
  if (page === "search") initSearch(root);
  else if (page === "call") initCall(root);
  else if (page === "calibration") initCalibration(root);
}
