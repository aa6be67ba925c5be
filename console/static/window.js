/* the window's calling client: log in at a window, call / recall / finish / skip / hold / call back / call by
   number / transfer / pause / resume / log out, with F-keys; live from the console's stream */
"use strict";
(() => {
  const page = JSON.parse(document.getElementById("page").textContent);
  const $ = (id) => document.getElementById(id);
  let win = null;          // the window this client works at
  let view = null;         // GET /api/windows/{win}
  let refreshing = null;
  const levelNames = { 5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意" };

  function show() {
    $("picker").hidden = !!win;
    $("desk").hidden = !win;
    $("window-title").textContent = win ? HQ.ui("window_n", { window: win }) : HQ.ui("window");
  }

  let again = false;
  async function refresh() {
    if (!win) return;
    if (refreshing) { again = true; return refreshing; }
    refreshing = (async () => {
      do {
        again = false;
        try { if (win) { view = await HQ.api("GET", "/api/windows/" + encodeURIComponent(win)); render(); } }
        catch (e) { HQ.say(HQ.errorText(e), "bad"); }
      } while (again);
      refreshing = null;
    })();
    return refreshing;
  }

  function render() {
    const w = view.window;
    if (!w.staff || w.staff.id !== page.me) { win = null; show(); return; }
    $("cur-number").textContent = w.ticket || "—";
    $("cur-status").textContent = HQ.ui("status_" + w.status) + (w.status === "paused" && w.reason ? "：" + w.reason : "");
    $("waiting").textContent = String(view.waiting);
    const r = view.rating;
    const box = $("cur-rating");
    if (r && r.level) {
      box.hidden = false;
      box.textContent = HQ.ui("rated", { level: r.ticket + " " + (levelNames[r.level] || r.level) + " " + "★".repeat(r.level) });
      box.className = "rating" + (r.level <= 2 ? " bad" : "");
    } else if (w.status === "rating") {
      box.hidden = false; box.className = "rating"; box.textContent = HQ.ui("awaiting_rating");
    } else { box.hidden = true; }
    const paused = w.status === "paused";
    $("btn-pause").hidden = paused;
    $("btn-resume").hidden = !paused;
    tick();
  }

  function tick() {
    const w = view && view.window;
    const t = $("cur-time");
    if (!w || w.status !== "serving" || !w.since) { t.textContent = "—"; return; }
    const s = Math.max(0, Math.floor((Date.now() - Date.parse(w.since)) / 1000));
    t.textContent = Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }
  setInterval(tick, 1000);

  async function command(cmd, body) {
    try {
      const r = await HQ.api("POST", "/api/windows/" + encodeURIComponent(win) + "/" + cmd, body || {});
      const res = r.result || {};
      if (cmd === "logout") { win = null; show(); HQ.say(""); return; }
      if (["call", "callback", "call_number"].includes(cmd)) {
        HQ.say(res.ticket ? HQ.ui(cmd) + " " + res.ticket.number : HQ.ui("nobody_waiting"), res.ticket ? "good" : "");
      } else {
        HQ.say(HQ.ui(cmd) + (res.ticket ? " " + res.ticket.number : "") + " · " + HQ.ui("done"), "good");
      }
      await refresh();
    } catch (e) { HQ.say(HQ.errorText(e), "bad"); }
  }

  async function login(w) {
    try {
      await HQ.api("POST", "/api/windows/" + encodeURIComponent(w) + "/login", {});
      win = w; show(); HQ.say(""); await refresh();
    } catch (e) { HQ.say(HQ.errorText(e), "bad"); alert(HQ.errorText(e)); }
  }

  function listDialog(title, items, label, onPick) {
    $("dlg-list-h").textContent = title;
    const box = $("dlg-list-items");
    box.textContent = "";
    if (!items.length) {
      const p = document.createElement("p"); p.textContent = HQ.ui("nobody"); box.appendChild(p);
    }
    for (const it of items) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = label(it);
      b.addEventListener("click", () => { $("dlg-list").close(); onPick(it); });
      box.appendChild(b);
    }
    $("dlg-list").showModal();
    const first = box.querySelector("button"); if (first) first.focus();
  }

  async function openDialog(name) {
    if (name === "hold" || name === "pause") {
      const d = $("dlg-" + name);
      d.querySelector("form").reset();
      d.showModal();
      return;
    }
    await refresh();
    if (name === "callback") {
      listDialog(HQ.ui("held_list"), view.held, (t) => t.number, (t) => command("callback", { number: t.number, date: t.date }));
    } else if (name === "call_number") {
      listDialog(HQ.ui("waiting_list"), view.queue, (t) => t.number + (t.priority === "green" ? " ★" : ""),
                 (t) => command("call_number", { number: t.number, date: t.date }));
    } else if (name === "transfer") {
      listDialog(HQ.ui("transfer"), page.services, (s) => s.prefix + " · " + s.name, (s) => command("transfer", { service: s.id }));
    }
  }

  for (const d of ["hold", "pause"]) {
    $("dlg-" + d).addEventListener("close", () => {
      const dlg = $("dlg-" + d);
      if (dlg.returnValue !== "ok") return;
      if (d === "hold") {
        const note = $("hold-note").value.trim();
        command("hold", note ? { note } : {});
      } else {
        command("pause", { reason: $("pause-reason").value.trim() });
      }
    });
  }

  document.querySelectorAll("[data-login]").forEach((b) => b.addEventListener("click", () => login(b.dataset.login)));
  document.querySelectorAll("[data-cmd]").forEach((b) => b.addEventListener("click", () => command(b.dataset.cmd)));
  document.querySelectorAll("[data-dialog]").forEach((b) => b.addEventListener("click", () => openDialog(b.dataset.dialog)));
  document.addEventListener("keydown", (e) => {
    if (!win || document.querySelector("dialog[open]")) return;
    const b = document.querySelector('[aria-keyshortcuts="' + e.key + '"]');
    if (b && !b.hidden) { e.preventDefault(); b.click(); }
  });
  HQ.signoutButton();

  HQ.live("/api/stream", (item) => {
    if (item.kind === "hall") {
      if (!win) {
        const mine = item.hall.windows.find((w) => w.staff && w.staff.id === page.me && page.windows.includes(w.id));
        if (mine) win = mine.id;
        show();
      }
      refresh();
    } else if (item.kind === "window" && item.window.id === win) { refresh(); }
    else if (item.kind === "queues" || item.kind === "tickets") { refresh(); }
    else if (item.kind === "event" && item.event.window === win) { refresh(); }
    else if (item.kind === "link") { $("linkdown").hidden = item.up; }
  }, (up) => { $("linkdown").hidden = up; });
  show();
})();
