// The QA form builder on /admin/qa-forms: sections of yes/no or scale questions with weights and
// instant-fail items, saved as JSON (POST /admin/qa-forms, CSRF header). No inline script (CSP).

import { errorText, t } from "./i18n.js";

const builder = document.getElementById("qa-builder");
const sections = document.getElementById("qa-b-sections");
const sectionTpl = document.getElementById("qa-b-section-tpl");
const questionTpl = document.getElementById("qa-b-question-tpl");
const result = document.getElementById("qa-b-result");

function addQuestion(sectionEl, q = {}) {
  const node = questionTpl.content.firstElementChild.cloneNode(true);
  node.querySelector(".qa-b-id").value = q.id || "";
  node.querySelector(".qa-b-text").value = q.text || "";
  node.querySelector(".qa-b-kind").value = q.kind || "yes_no";
  node.querySelector(".qa-b-weight").value = q.weight ?? 1;
  node.querySelector(".qa-b-max").value = q.max_points ?? 5;
  node.querySelector(".qa-b-fail").checked = Boolean(q.instant_fail);
  node.querySelector(".qa-b-na").checked = Boolean(q.allow_na);
  const max = node.querySelector(".qa-b-max");
  const kind = node.querySelector(".qa-b-kind");
  const sync = () => { max.disabled = kind.value !== "scale"; };
  kind.addEventListener("change", sync);
  sync();
  node.querySelector(".qa-b-remove-question").addEventListener("click", () => node.remove());
  sectionEl.querySelector(".qa-b-questions").append(node);
  return node;
}

function addSection(s = {}) {
  const node = sectionTpl.content.firstElementChild.cloneNode(true);
  node.querySelector(".qa-b-title").value = s.title || "";
  node.querySelector(".qa-b-add-question").addEventListener("click", () => addQuestion(node));
  node.querySelector(".qa-b-remove-section").addEventListener("click", () => node.remove());
  sections.append(node);
  const questions = s.questions && s.questions.length ? s.questions : [{}];
  for (const q of questions) addQuestion(node, q);
  return node;
}

/** The builder's content in the API's shape. */
export function collect() {
  return {
    name: document.getElementById("qa-b-name").value.trim(),
    sections: [...sections.querySelectorAll(".qa-b-section")].map((sec) => ({
      title: sec.querySelector(".qa-b-title").value.trim(),
      questions: [...sec.querySelectorAll(".qa-b-question")].map((q) => {
        const kind = q.querySelector(".qa-b-kind").value;
        const out = {
          id: q.querySelector(".qa-b-id").value.trim(),
          text: q.querySelector(".qa-b-text").value.trim(),
          kind,
          weight: Number(q.querySelector(".qa-b-weight").value || 0),
          instant_fail: q.querySelector(".qa-b-fail").checked,
          allow_na: q.querySelector(".qa-b-na").checked,
        };
        if (kind === "scale") out.max_points = Number(q.querySelector(".qa-b-max").value || 5);
        return out;
      }),
    })),
  };
}

function load(def) {
  sections.replaceChildren();
  document.getElementById("qa-b-name").value = `${def.name} (copy)`;
  for (const s of def.sections) addSection(s);
}

if (builder) {
  document.getElementById("qa-b-add-section").addEventListener("click", () => addSection());
  for (const button of document.querySelectorAll(".qa-b-load")) {
    button.addEventListener("click", () => load(JSON.parse(button.dataset.json)));
  }
  addSection();
  builder.addEventListener("submit", async (event) => {
    event.preventDefault();
    result.className = "";
    result.textContent = t("Saving…");
    try {
      const resp = await fetch("/admin/qa-forms", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": builder.dataset.csrf },
        body: JSON.stringify(collect()),
        credentials: "same-origin",
      });
      const body = await resp.json().catch(() => ({}));
      if (!resp.ok) {
        result.className = "error";
        result.textContent = t("Not saved: {error}", { error: errorText(body, String(resp.status)) });
        return;
      }
      result.className = "notice";
      result.textContent = t("Saved form “{name}” (id {id}).", { name: body.form.name, id: body.form.id });
      setTimeout(() => window.location.assign("/admin/qa-forms?done=form-saved"), 600);
    } catch (err) {
      result.className = "error";
      result.textContent = t("Not saved: {error}", { error: String(err) });
    }
  });
}
