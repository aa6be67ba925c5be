/* hallq console: shared helpers (words, the API with the session's CSRF token, live stream, messages) */
"use strict";
const HQ = (() => {
  const words = JSON.parse(document.getElementById("words").textContent);
  let csrf = null;
  const ui = (k, vars) => (words.ui[k] || k).replace(/\{(\w+)\}/g, (_, n) => (vars && n in vars ? vars[n] : ""));
  const errorText = (err) => {
    const code = (err && err.code) || "ERROR";
    return words.errors[code] || (words.errors.ERROR + (err && err.message ? "：" + err.message : ""));
  };
  async function token() {
    if (csrf) return csrf;
    const r = await fetch("/api/session", { credentials: "same-origin" });
    if (r.status === 401) { location.href = "/signin"; throw { code: "UNAUTHENTICATED" }; }
    csrf = (await r.json()).csrf;
    return csrf;
  }
  async function api(method, url, body) {
    const headers = { "Content-Type": "application/json" };
    if (method !== "GET" && url !== "/api/session") headers["X-CSRF-Token"] = await token();
    if (method === "DELETE" && url === "/api/session") headers["X-CSRF-Token"] = await token();
    let r;
    try {
      r = await fetch(url, { method, headers, credentials: "same-origin",
                             body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) { throw { code: "UNAVAILABLE", message: String(e) }; }
    let data = {};
    try { data = await r.json(); } catch (e) { data = {}; }
    if (r.status === 401 && url !== "/api/session") { location.href = "/signin"; }
    if (!r.ok) throw (data.error || { code: "ERROR", message: "HTTP " + r.status });
    return data;
  }
  function say(text, kind) {
    const m = document.getElementById("message");
    if (!m) return;
    m.textContent = text;
    m.className = "message " + (kind || "");
  }
  // the hall's configuration changed (hallq reload): load the page again, once no dialog is open and nothing
  // is being typed, so windows, services and names are the new ones
  let reloadWanted = false;
  function reloadWhenQuiet() {
    const a = document.activeElement;
    const typing = a && (a.tagName === "TEXTAREA" || (a.tagName === "INPUT" && !["radio", "checkbox"].includes(a.type)))
      && a.value;
    if (document.querySelector("dialog[open]") || typing) { setTimeout(reloadWhenQuiet, 1000); return; }
    location.reload();
  }
  function live(url, onItem, onState) {
    const es = new EventSource(url);
    es.onmessage = (e) => {
      try {
        const item = JSON.parse(e.data);
        if (item.kind === "config") {
          if (!reloadWanted) { reloadWanted = true; reloadWhenQuiet(); }
          return;
        }
        onItem(item);
      } catch (err) { console.error(err); }
    };
    es.onopen = () => onState && onState(true);
    es.onerror = () => onState && onState(false);
    return es;
  }
  function signoutButton() {
    const b = document.getElementById("signout");
    if (b) b.addEventListener("click", async () => {
      try { await api("DELETE", "/api/session"); } catch (e) { /* signed out anyway */ }
      location.href = "/signin";
    });
  }
  const kind = (k) => words.ui["kind_" + k] || k;
  return { words, ui, errorText, api, say, live, signoutButton, token, kind };
})();
