// One formatter for every page: times in the browser's time zone, human labels for enum values.
// Pages import what they need; formatPage() rewrites <time datetime> and [data-epoch] elements.

const TIME = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
});
const CLOCK = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });

/** A Date from an ISO string, epoch seconds (number or numeric string) or a Date; null when invalid. */
export function toDate(value) {
  if (value === null || value === undefined || value === "") return null;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value;
  const n = typeof value === "number" ? value : (/^-?\d+(\.\d+)?$/.test(String(value)) ? Number(value) : NaN);
  const d = Number.isFinite(n) ? new Date(n * 1000) : new Date(String(value));
  return Number.isNaN(d.getTime()) ? null : d;
}

/** Date and time in the browser's time zone ("—" when unknown). */
export function formatTime(value) {
  const d = toDate(value);
  return d ? TIME.format(d) : "—";
}

/** Time of day only, in the browser's time zone. */
export function formatClock(value) {
  const d = toDate(value);
  return d ? CLOCK.format(d) : "—";
}

/** Seconds as m:ss or h:mm:ss; "—" for a missing or non-finite value. */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(Number(seconds))) return "—";
  const s = Math.max(0, Math.round(Number(seconds)));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return (h ? `${h}:` : "") + `${mm}:${String(r).padStart(2, "0")}`;
}

/** A percentage (0-100) with one decimal, "—" when it cannot be computed (never ∞ or NaN). */
export function formatPercent(value) {
  const n = Number(value);
  return value === null || value === undefined || !Number.isFinite(n) ? "—" : `${n.toFixed(1)} %`;
}

/** The one label table of enum values shown to people (call outcomes, agent states, roles, kinds). */
export const LABELS = {
  answered: "Answered",
  abandoned: "Abandoned",
  abandoned_in_queue: "Abandoned in queue",
  abandoned_in_ivr: "Abandoned in IVR",
  short_abandon: "Short abandon",
  voicemail: "Voicemail",
  overflow: "Overflowed",
  callback: "Callback",
  failed: "Failed",
  busy: "Busy",
  no_answer: "No answer",
  transferred: "Transferred",
  logged_out: "Logged out",
  available: "Available",
  ringing: "Ringing",
  on_call: "On a call",
  wrapup: "Wrap-up",
  paused: "Paused",
  missed_call: "Missed call",
  break: "Break",
  lunch: "Lunch",
  training: "Training",
  meeting: "Meeting",
  listen: "Listen",
  whisper: "Whisper",
  barge: "Barge",
  agent: "Agent",
  supervisor: "Supervisor",
  qa: "QA",
  admin: "Administrator",
  yes_no: "Yes / no",
  scale: "Scale",
  rrmemory: "Round robin (memory)",
  linear: "Linear",
  longest_idle: "Longest idle",
  fewest_calls: "Fewest calls",
  random: "Random",
};

/** The human label of an enum value; unknown values are shown with their underscores as spaces. */
export function label(value) {
  if (value === null || value === undefined || value === "") return "—";
  const key = String(value);
  if (Object.prototype.hasOwnProperty.call(LABELS, key)) return LABELS[key];
  const text = key.replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Rewrite the page's server-rendered times and enum values: <time datetime>, [data-epoch], [data-label]. */
export function formatPage(root = document) {
  for (const el of root.querySelectorAll("time[datetime]")) {
    if (!el.dataset.formatted) { el.textContent = formatTime(el.getAttribute("datetime")); el.dataset.formatted = "1"; }
  }
  for (const el of root.querySelectorAll("[data-epoch]")) {
    if (!el.dataset.formatted) { el.textContent = formatTime(el.dataset.epoch); el.dataset.formatted = "1"; }
  }
  for (const el of root.querySelectorAll("[data-label]")) {
    el.textContent = label(el.dataset.label);
  }
}
