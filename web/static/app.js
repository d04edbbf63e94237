// callcenter — shared page behaviour (ES module, loaded by base.html; no inline scripts: CSP).

/** Show <time datetime="..."> values (UTC ISO 8601 from the server) in the browser's local time. */
export function localizeTimes(root = document) {
  const format = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "medium" });
  for (const el of root.querySelectorAll("time[datetime]")) {
    const when = new Date(el.getAttribute("datetime"));
    if (!Number.isNaN(when.getTime())) {
      el.title = el.getAttribute("datetime");
      el.textContent = format.format(when);
    }
  }
}

localizeTimes();
