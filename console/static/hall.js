/* the live hall (监控大屏): windows, queues, open alerts with their age and 督办 mark, devices, today's figures;
   live from the console's stream, no reloads */
"use strict";
(() => {
  const page = JSON.parse(document.getElementById("page").textContent);
  const $ = (id) => document.getElementById(id);
  HQ.signoutButton();
  if (!$("board-windows")) return;
  const names = Object.fromEntries(page.services.map((s) => [s.id, s.name]));
  let board = null;
  let escalateAfter = 1800;
  let skew = 0;                       // server clock minus ours, ms
  const alerts = new Map();           // id -> alert
  const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls;
                                    if (text !== undefined) e.textContent = text; return e; };
  const now = () => Date.now() + skew;
  const ageMin = (at) => at ? Math.max(0, Math.floor((now() - Date.parse(at)) / 60000)) : null;
  const mmss = (at) => {
    if (!at) return "—";
    const s = Math.max(0, Math.floor((now() - Date.parse(at)) / 1000));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return (h ? h + ":" + String(m).padStart(2, "0") : String(m)) + ":" + String(r).padStart(2, "0");
  };

  function renderWindows() {
    const box = $("board-windows"); box.textContent = "";
    for (const w of board.windows) {
      const tile = el("div", "tile st-" + w.status); tile.dataset.window = w.id;
      tile.append(el("div", "tile-id w", HQ.ui("window_n", { window: w.id })));
      tile.append(el("div", "tile-ticket", w.ticket || "—"));
      tile.append(el("div", "tile-status w", HQ.ui("status_" + w.status)));
      tile.append(el("div", "tile-staff", w.staff ? w.staff.name : ""));
      const t = el("div", "tile-time", w.status === "closed" ? "" : mmss(w.since)); t.dataset.since = w.since || "";
      tile.append(t);
      box.appendChild(tile);
    }
  }
  function renderQueues() {
    const rows = $("board-queues"); rows.textContent = "";
    for (const q of board.queues) {
      const tr = el("tr");
      const old = q.oldest_at ? el("td", "age", mmss(q.oldest_at)) : el("td", "", "—");
      if (q.oldest_at) old.dataset.since = q.oldest_at;
      tr.append(el("td", "w", names[q.id] || q.id), el("td", "big-num", String(q.waiting)), old,
                el("td", "w", q.est_wait_s == null ? "—" : HQ.ui("min", { m: Math.ceil(q.est_wait_s / 60) })));
      rows.appendChild(tr);
    }
  }
  function renderFigures() {
    const f = board.today || {};
    const set = (k, v) => { const e = $("fig-" + k); if (e.textContent !== v) e.textContent = v; };
    for (const k of ["issued", "served", "no_show", "rated", "bad"]) set(k, f[k] == null ? "0" : String(f[k]));
    set("good_rate", f.good_rate == null ? "—" : (f.good_rate * 100).toFixed(1) + "%");
  }
  function renderAlerts() {
    const list = $("board-alerts"); list.textContent = "";
    const open = [...alerts.values()].filter((a) => a.state === "open").sort((a, b) => (a.at < b.at ? 1 : -1));
    $("alert-count").textContent = String(board.alerts.open);
    for (const a of open.slice(0, 12)) {
      const li = el("li", "alert-item kind-" + a.kind); li.dataset.alert = a.id;
      const age = ageMin(a.at);
      const esc = a.escalated || a.kind === "alert_escalated" || (now() - Date.parse(a.at)) / 1000 >= escalateAfter;
      if (esc) { li.classList.add("escalated"); li.append(el("span", "esc-tag w", HQ.ui("escalated"))); }
      li.append(el("span", "alert-kind w", HQ.kind(a.kind)), el("span", "alert-age w", HQ.ui("age", { m: age })),
                el("span", "alert-msg", a.message));
      list.appendChild(li);
    }
    const dev = $("board-devices"); dev.textContent = "";
    const bad = Object.entries(board.devices || {}).filter(([, s]) => s.state && s.state !== "online" || s.paper && s.paper !== "ok");
    for (const a of open.filter((x) => /^device_|^printer_/.test(x.kind))) {
      dev.appendChild(el("li", "alert-item", a.message));
    }
    for (const [id, s] of bad) dev.appendChild(el("li", "alert-item", id + " · " + (s.state || "") + (s.paper ? " · " + s.paper : "")));
    if (!dev.children.length) dev.appendChild(el("li", "ok w", HQ.ui("devices_ok")));
  }
  function tick() {
    document.querySelectorAll("[data-since]").forEach((e) => { if (e.dataset.since) e.textContent = mmss(e.dataset.since); });
    $("clock").textContent = new Date(now()).toLocaleTimeString("zh-CN", { hour12: false });
  }

  async function load() {
    try {
      const [b, a] = await Promise.all([HQ.api("GET", "/api/board"), HQ.api("GET", "/api/alerts?state=open&limit=200")]);
      board = b; escalateAfter = b.escalate_after_s; skew = Date.parse(b.now) - Date.now();
      alerts.clear(); for (const x of a.alerts) alerts.set(x.id, x);
      renderWindows(); renderQueues(); renderFigures(); renderAlerts(); tick();
    } catch (e) { HQ.say(HQ.errorText(e), "bad"); }
  }

  let pending = null;
  function later() { if (!pending) pending = setTimeout(async () => { pending = null;
    try { const b = await HQ.api("GET", "/api/board"); board.queues = b.queues; board.windows = b.windows;
          board.today = b.today; renderWindows(); renderQueues(); renderFigures(); } catch (e) { /* next event */ } }, 300); }

  HQ.live("/api/stream", (item) => {
    if (!board) return;
    if (item.kind === "link") { $("linkdown").hidden = item.up; if (item.up) load(); return; }
    if (item.kind === "window") {
      const i = board.windows.findIndex((w) => w.id === item.window.id);
      if (i >= 0) { const old = board.windows[i];
        board.windows[i] = Object.assign({}, item.window,
          { since: old.status === item.window.status && old.ticket === item.window.ticket ? old.since : new Date(now()).toISOString() }); }
      renderWindows();
    } else if (item.kind === "queues") { board.queues = item.queues.map((q) => Object.assign(
        { oldest_at: (board.queues.find((o) => o.id === q.id) || {}).oldest_at }, q)); renderQueues(); later();
    } else if (item.kind === "alerts") { board.alerts.open = item.open; renderAlerts();
    } else if (item.kind === "today") { board.today = item.today; renderFigures();
    } else if (item.kind === "device") { board.devices[item.device] = item.status; renderAlerts();
    } else if (item.kind === "event") {
      const ev = item.event;
      if (ev.type === "alert.raised") {
        alerts.set(ev.id, { id: ev.id, kind: ev.kind, message: ev.message, at: ev.at, window: ev.window, state: "open",
                            of: ev.of });
        if (ev.kind === "alert_escalated" && alerts.has(ev.of)) alerts.get(ev.of).escalated = true;
        renderAlerts();
      } else if (ev.type === "alert.acknowledged") {
        const a = alerts.get(ev.alert); if (a) a.state = "acknowledged"; renderAlerts();
      }
      document.body.dataset.seq = String(ev.seq);
    }
  }, (up) => { $("linkdown").hidden = up; });
  setInterval(tick, 1000);
  setInterval(() => { if (board) renderAlerts(); }, 30000);
  load();
})();
