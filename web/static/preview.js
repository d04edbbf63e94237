// Outbound preview in the agent console (issue 17): the next contact's card, Call / Skip (with a
// reason), and the outcome, required before the next contact. Every text goes in as textContent.

import { errorText, t } from "./i18n.js";

const root = document.getElementById("console");
const box = document.getElementById("preview");
const csrf = root ? root.dataset.csrf : "";
const $ = (id) => document.getElementById(id);
let card = null;
let poll = null;

async function api(path, body, method = "POST") {
  const init = { method, headers: { "X-CSRF-Token": csrf, Accept: "application/json" } };
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
      message += t(": ") + Object.values(data.fields).join("; ");
    }
    throw new Error(message);
  }
  return data;
}

function error(message) {
  const p = $("preview-error");
  p.textContent = message || "";
  p.classList.toggle("hidden", !message);
}

function show(next) {
  card = next;
  $("preview-empty").classList.toggle("hidden", Boolean(card));
  $("preview-card").classList.toggle("hidden", !card);
  if (!card) {
    $("preview-empty").textContent = t("No contact to call right now.");
    return;
  }
  const c = card.contact;
  $("preview-name").textContent = c.name || t("(no name)");
  $("preview-number").textContent = c.number;
  $("preview-campaign").textContent = card.campaign.name;
  $("preview-attempts").textContent = String(c.attempts + (card.state === "ready" ? 1 : 0));
  $("preview-reason").textContent = c.reason || "—";
  $("preview-script").textContent = card.campaign.script || "";
  const customer = $("preview-customer");
  customer.classList.toggle("hidden", !c.customer_id);
  if (c.customer_id) customer.querySelector("a").href = `/customers/${encodeURIComponent(c.customer_id)}`;
  $("preview-ready").classList.toggle("hidden", card.state !== "ready");
  $("preview-dialing").classList.toggle("hidden", card.state !== "dialing");
  $("preview-outcome").classList.toggle("hidden", card.state !== "needs_outcome");
  $("preview-next").disabled = card.state !== "ready";
  const select = $("preview-outcome-code");
  select.replaceChildren(
    ...card.outcomes.map((o) => {
      const opt = document.createElement("option");
      opt.value = o.code;
      opt.textContent = t(o.label); // the shipped labels are in the catalogue; a campaign's own stay as typed
      return opt;
    }),
  );
  clearInterval(poll);
  poll = card.state === "dialing" ? setInterval(refresh, 1000) : null;
}

async function refresh() {
  try {
    show((await api("/api/outbound/preview", undefined, "GET")).card);
  } catch (exc) {
    error(exc.message);
  }
}

if (box && root) {
  $("preview-next").addEventListener("click", async () => {
    error("");
    await refresh();
  });
  $("preview-call").addEventListener("click", async () => {
    error("");
    try {
      await api(`/api/outbound/preview/${card.contact.id}/call`);
      await refresh();
    } catch (exc) {
      error(exc.message);
    }
  });
  $("preview-skip").addEventListener("click", async () => {
    error("");
    try {
      await api(`/api/outbound/preview/${card.contact.id}/skip`, { reason: $("preview-skip-reason").value });
      $("preview-skip-reason").value = "";
      await refresh();
    } catch (exc) {
      error(exc.message);
    }
  });
  $("preview-outcome-save").addEventListener("click", async () => {
    error("");
    try {
      await api(`/api/outbound/attempts/${card.attempt_id}/outcome`, { code: $("preview-outcome-code").value });
      show(null);
      $("preview-empty").textContent = t("Outcome saved. Press “Next contact”.");
      $("preview-empty").classList.remove("hidden");
      $("preview-next").disabled = false;
    } catch (exc) {
      error(exc.message);
    }
  });
}
