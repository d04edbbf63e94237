// One formatter for every page: times in the browser's time zone and the page's language, numbers and
// human labels for enum values in that language (i18n.js). Pages import what they need; formatPage()
// rewrites <time datetime>, [data-epoch], [data-label] and [data-number] elements.

import { LANG, t } from "./i18n.js";

export { LANG, t };

const TIME = new Intl.DateTimeFormat(LANG, {
  year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
});
const CLOCK = new Intl.DateTimeFormat(LANG, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const SHORT = new Intl.DateTimeFormat(LANG, { dateStyle: "short", timeStyle: "short" });
const NUMBER = new Intl.NumberFormat(LANG);
const PERCENT = new Intl.NumberFormat(LANG, { minimumFractionDigits: 1, maximumFractionDigits: 1 });

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

/** Short date and time (the console's notes and tickets); "" when unknown. */
export function formatShort(value) {
  const d = toDate(value);
  return d ? SHORT.format(d) : "";
}

/** A count or amount with the language's grouping ("—" when not a number). */
export function formatNumber(value) {
  const n = Number(value);
  return value === null || value === undefined || value === "" || !Number.isFinite(n) ? "—" : NUMBER.format(n);
}

/** Seconds as a short phrase: "45 s", "3 min 20 s", "1 h 5 min" (in the page's language). */
export function formatSeconds(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(Number(seconds))) return "—";
  const s = Math.max(0, Math.round(Number(seconds)));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  if (h) return m ? t("{h} h {m} min", { h, m }) : t("{h} h", { h });
  if (m) return r ? t("{m} min {s} s", { m, s: r }) : t("{m} min", { m });
  return t("{s} s", { s: r });
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
  return value === null || value === undefined || !Number.isFinite(n) ? "—" : `${PERCENT.format(n)} %`;
}

/** The one label table of enum values shown to people (call outcomes, agent states, roles, kinds). */
export const LABELS = {
  answered: t("Answered"),
  abandoned: t("Abandoned"),
  abandoned_in_queue: t("Abandoned in queue"),
  abandoned_in_ivr: t("Abandoned in IVR"),
  short_abandon: t("Short abandon"),
  voicemail: t("Voicemail"),
  overflow: t("Overflowed"),
  callback: t("Callback"),
  failed: t("Failed"),
  busy: t("Busy"),
  no_answer: t("No answer"),
  transferred: t("Transferred"),
  logged_out: t("Logged out"),
  available: t("Available"),
  ringing: t("Ringing"),
  on_call: t("On a call"),
  wrapup: t("Wrap-up"),
  paused: t("Paused"),
  missed_call: t("Missed call"),
  break: t("Break"),
  lunch: t("Lunch"),
  training: t("Training"),
  meeting: t("Meeting"),
  listen: t("Listen"),
  whisper: t("Whisper"),
  barge: t("Barge"),
  agent: t("Agent"),
  supervisor: t("Supervisor"),
  qa: t("QA"),
  admin: t("Administrator"),
  yes_no: t("Yes / no"),
  scale: t("Scale"),
  rrmemory: t("Round robin (memory)"),
  linear: t("Linear"),
  longest_idle: t("Longest idle"),
  fewest_calls: t("Fewest calls"),
  random: t("Random"),
  // customers' segments, tickets' priorities and statuses
  new: t("New"),
  regular: t("Regular"),
  vip: t("VIP"),
  low: t("Low"),
  normal: t("Normal"),
  high: t("High"),
  urgent: t("Urgent"),
  open: t("Open"),
  pending: t("Pending"),
  resolved: t("Resolved"),
  closed: t("Closed"),
  inquiry: t("Inquiry"),
  complaint: t("Complaint"),
  after_sales: t("After-sales (RMA)"),
  follow_up: t("Follow-up"),
  // the screen pop's phases, agent states not above, pause reasons
  dialing: t("Dialing"),
  missed: t("Missed"),
  ended: t("Ended"),
  connected: t("Connected"),
  on_hold: t("On hold"),
  coaching: t("Coaching"),
  other: t("Other"),
  // service cases: stages and repair modes
  received: t("Received"),
  warranty_checked: t("Warranty checked"),
  in_repair: t("In repair"),
  awaiting_parts: t("Awaiting parts"),
  repaired: t("Repaired"),
  shipped: t("Shipped"),
  confirmed: t("Confirmed"),
  rejected: t("Rejected"),
  in_house: t("In house"),
  outsourced: t("Outsourced"),
  // report periods and intervals
  day: t("Day"),
  week: t("Week"),
  month: t("Month"),
  "15m": t("15 minutes"),
  hour: t("Hour"),
  unanswered: t("Unanswered"),
  in_progress: t("In progress"),
  // history fields (tickets, cases) and the QA timeline's kinds
  created: t("created"),
  status: t("status"),
  priority: t("priority"),
  category: t("category"),
  subject: t("subject"),
  assignee: t("assignee"),
  due_at: t("due at"),
  comment: t("comment"),
  stage: t("stage"),
  technician: t("technician"),
  carrier: t("carrier"),
  tracking: t("tracking"),
  quote: t("quote"),
  start: t("Start"),
  ivr: t("IVR"),
  ivr_step: t("IVR step"),
  queued: t("Queued"),
  offer: t("Offer"),
  answer: t("Answer"),
  hold: t("Hold"),
  transfer: t("Transfer"),
  end: t("End"),
  lost: t("Lost"),
  monitoring: t("Monitoring"),
  // outbound campaigns: modes, kinds, statuses, attempt results, contact statuses
  preview: t("Preview"),
  progressive: t("Progressive"),
  predictive: t("Predictive"),
  service: t("Service"),
  marketing: t("Marketing"),
  draft: t("Draft"),
  running: t("Running"),
  stopped: t("Stopped"),
  machine: t("Answering machine"),
  hung_up: t("Hung up"),
  skipped: t("Skipped"),
  dnc_blocked: t("Do-not-call list"),
  done: t("Done"),
  exhausted: t("Attempts used up"),
  blocked: t("Blocked"),
};

/** The human label of an enum value; unknown values are shown with their underscores as spaces. */
export function label(value) {
  if (value === null || value === undefined || value === "") return "—";
  const key = String(value);
  if (Object.prototype.hasOwnProperty.call(LABELS, key)) return LABELS[key];
  const text = key.replace(/_/g, " ");
  const translated = t(text.charAt(0).toUpperCase() + text.slice(1));
  return translated;
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
  for (const el of root.querySelectorAll("[data-number]")) {
    el.textContent = formatNumber(el.dataset.number);
  }
  for (const el of root.querySelectorAll("[data-seconds]")) {
    el.textContent = formatSeconds(el.dataset.seconds);
  }
}
