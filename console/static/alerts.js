/* the alert inbox (电子监察): open / acknowledged / all, age and 督办 mark, acknowledge with a required note */
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  HQ.signoutButton();
  if (!$("alert-rows")) return;
  let state = "open";
  let acking = null;
  const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls;
                                    if (text !== undefined) e.textContent = text; return e; };

  async function load() {
    try {
      const r = await HQ.api("GET", "/api/alerts?state=" + state + "&limit=500");
      const rows = $("alert-rows"); rows.textContent = "";
      if (!r.alerts.length) { const tr = el("tr"); const td = el("td", "w", HQ.ui("no_alerts")); td.colSpan = 5;
                              tr.appendChild(td); rows.appendChild(tr); }
      for (const a of r.alerts.slice().reverse()) {
        const tr = el("tr", a.escalated ? "escalated" : ""); tr.dataset.alert = a.id;
        const age = el("td"); age.append(el("span", "w", HQ.ui("age", { m: Math.floor((a.age_s || 0) / 60) })));
        if (a.escalated) age.append(" ", el("span", "esc-tag w", HQ.ui("escalated")));
        const msg = el("td", "", a.message);
        if (a.ack) msg.append(el("div", "sub", "✔ " + (a.ack.actor || a.ack.by || "") + " · " + a.ack.at.slice(0, 16).replace("T", " ") + " · " + a.ack.note));
        const st = el("td", "w", HQ.ui("state_" + a.state));
        const act = el("td");
        if (a.state === "open") {
          const b = el("button", "small w", HQ.ui("ack")); b.type = "button";
          b.setAttribute("aria-label", HQ.ui("ack") + " " + a.message);
          b.addEventListener("click", () => { acking = a; $("ack-what").textContent = a.message; $("ack-note").value = "";
                                              $("dlg-ack").showModal(); });
          act.appendChild(b);
        }
        tr.append(age, el("td", "w", HQ.kind(a.kind)), msg, st, act);
        rows.appendChild(tr);
      }
      $("alerts-more").textContent = r.more ? String(r.total) : "";
    } catch (e) { HQ.say(HQ.errorText(e), "bad"); }
  }
  document.querySelectorAll("[data-state]").forEach((b) => b.addEventListener("click", () => {
    state = b.dataset.state;
    document.querySelectorAll("[data-state]").forEach((x) => x.setAttribute("aria-pressed", String(x === b)));
    load();
  }));
  $("dlg-ack").addEventListener("close", async () => {
    if ($("dlg-ack").returnValue !== "ok" || !acking) return;
    const note = $("ack-note").value.trim();
    if (!note) { HQ.say(HQ.ui("ack_note_needed"), "bad"); return; }
    try {
      await HQ.api("POST", "/api/alerts/" + encodeURIComponent(acking.id) + "/ack", { note });
      HQ.say(HQ.ui("acked"), "good");
      load();
    } catch (e) { HQ.say(HQ.errorText(e), "bad"); }
  });
  let pending = null;
  HQ.live("/api/stream", (item) => {
    if (item.kind === "event" && /^alert\./.test(item.event.type) && !pending) {
      pending = setTimeout(() => { pending = null; load(); }, 100);
    }
  }, (up) => { $("linkdown").hidden = up; });
  load();
})();
