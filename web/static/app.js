// callcenter — shared page behaviour (ES module, loaded by base.html; no inline scripts: CSP).

import { formatPage } from "./format.js";

/** Show <time datetime="..."> values (UTC ISO 8601 from the server) in the browser's time zone, by the
 * one formatter of format.js (also [data-epoch] times and [data-label] enum values). */
export function localizeTimes(root = document) {
  for (const el of root.querySelectorAll("time[datetime]")) el.title = el.getAttribute("datetime");
  formatPage(root);
}

localizeTimes();

// the language menu of the top bar: choosing a language submits its form (POST /language)
for (const select of document.querySelectorAll("select.lang-select")) {
  select.addEventListener("change", () => select.form.requestSubmit());
}
