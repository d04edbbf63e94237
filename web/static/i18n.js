// The browser's strings, from the same gettext catalogues as the pages (GET /i18n/<lang>.json, named by
// base.html's <meta name="i18n-catalogue">). t(message, {name: value}) translates and fills placeholders;
// English is the message itself. Loaded once (top-level await: importers run after it is ready).

/** The page's language (BCP 47, from <html lang>): what Intl formats dates and numbers in. */
export const LANG = document.documentElement.lang || "en";

let catalogue = {};
const meta = document.querySelector('meta[name="i18n-catalogue"]');
if (meta && LANG !== "en") {
  try {
    const resp = await fetch(meta.content, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (resp.ok) catalogue = await resp.json();
  } catch (_) {
    catalogue = {}; // offline: the English messages
  }
}

/** ``message`` in the page's language, with {name} placeholders filled from ``params``. */
export function t(message, params) {
  const text = Object.prototype.hasOwnProperty.call(catalogue, message) && catalogue[message] ? catalogue[message] : message;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : whole));
}

/** A server's error body in the page's language: its translated ``message``, else its ``error``. */
export function errorText(data, fallback) {
  if (data && typeof data.message === "string" && data.message) return data.message;
  if (data && typeof data.error === "string" && data.error) return t(data.error);
  return fallback;
}
