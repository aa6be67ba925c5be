/* 导服台: issue a ticket for a visitor (green channel with a required reason), see every queue, cancel a ticket */
"use strict";
(() => {
  const page = JSON.parse(document.getElementById("page").textContent);
  const $ = (id) => document.getElementById(id);
  const form = $("issue");
  HQ.signoutButton();
  if (!form) return;
  const names = Object.fromEntries(page.services.map((s) => [s.id, s.name]));
  let cancelling = null;

  $("green").addEventListener("change", () => {
    $("reason-box").hidden = !$("green").checked;
    $("reason").required = $("green").checked;
    if ($("green").checked) $("reason").focus();
  });

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const green = $("green").checked;
    const reason = $("reason").value.trim();
    if (green && !reason) { HQ.say(HQ.ui("green_reason_needed"), "bad"); $("reason").focus(); return; }
    const body = { service: form.elements.service.value };
    if (green) { body.priority = "green"; body.reason = reason; }
    try {
      const r = await HQ.api("POST", "/api/tickets", body);
      const t = r.ticket;
      const out = $("issued");
      out.textContent = "";
      const n = document.createElement("div"); n.className = "number"; n.textContent = t.number; out.appendChild(n);
      const s = document.createElement("div");
      s.textContent = HQ.ui("issued", { number: t.number }) + " · " + (names[t.service] || t.service)
        + (t.priority === "green" ? " · " + HQ.ui("green") : "");
      out.appendChild(s);
      if (r.ref) {
        const a = document.createElement("a"); a.href = "/t?q=" + encodeURIComponent(r.ref); a.textContent = r.ref;
        a.className = "sub"; out.appendChild(a);
      }
      if (r.print_error) HQ.say(HQ.ui("print_failed", { number: t.number, error: r.print_error }), "bad");
      else HQ.say("");
      $("green").checked = false; $("reason").value = ""; $("reason-box").hidden = true; $("reason").required = false;
      refresh();
    } catch (e) { HQ.say(HQ.errorText(e), "bad"); }
  });

  async function refresh() {
    try {
      const [hall, waiting, held] = await Promise.all([
        HQ.api("GET", "/api/hall"), HQ.api("GET", "/api/tickets?status=waiting"), HQ.api("GET", "/api/tickets?status=held")]);
      const rows = $("queue-rows"); rows.textContent = "";
      for (const q of hall.queues) {
        const tr = document.createElement("tr");
        for (const v of [names[q.id] || q.id, String(q.waiting),
                         q.est_wait_s == null ? "—" : HQ.ui("min", { m: Math.ceil(q.est_wait_s / 60) })]) {
          const td = document.createElement("td"); const sp = document.createElement("span");
          sp.className = "w"; sp.textContent = v; td.appendChild(sp); tr.appendChild(td);
        }
        rows.appendChild(tr);
      }
      const list = $("open-tickets"); list.textContent = "";
      for (const t of [...waiting.tickets, ...held.tickets]) {
        const li = document.createElement("li"); li.className = t.status;
        const span = document.createElement("span");
        span.textContent = t.number + (t.status === "held" ? " (" + HQ.ui("hold") + ")" : "");
        if (t.priority === "green") span.className = "green-tag";
        const b = document.createElement("button"); b.type = "button"; b.className = "small w";
        b.textContent = HQ.ui("cancel_ticket"); b.setAttribute("aria-label", HQ.ui("cancel_ticket") + " " + t.number);
        b.addEventListener("click", () => { cancelling = t; $("cancel-number").textContent = t.number;
                                             $("cancel-reason").value = ""; $("dlg-cancel").showModal(); });
        li.append(span, b); list.appendChild(li);
      }
      const wl = $("window-list"); wl.textContent = "";
      for (const w of hall.windows) {
        const li = document.createElement("li"); li.className = "w";
        li.textContent = HQ.ui("window_n", { window: w.id }) + " · " + HQ.ui("status_" + w.status)
          + (w.ticket ? " · " + w.ticket : "") + (w.staff ? " · " + w.staff.name : "");
        wl.appendChild(li);
      }
      $("alerts-line").textContent = hall.alerts.open ? HQ.ui("open_alerts", { n: hall.alerts.open }) : "";
    } catch (e) { HQ.say(HQ.errorText(e), "bad"); }
  }

  $("dlg-cancel").addEventListener("close", async () => {
    if ($("dlg-cancel").returnValue !== "ok" || !cancelling) return;
    const reason = $("cancel-reason").value.trim();
    try {
      await HQ.api("POST", "/api/tickets/" + encodeURIComponent(cancelling.number) + "/cancel",
                   Object.assign({ date: cancelling.date }, reason ? { reason } : {}));
      HQ.say(HQ.ui("cancelled", { number: cancelling.number }), "good");
      refresh();
    } catch (e) { HQ.say(HQ.errorText(e), "bad"); }
  });

  let pending = null;
  HQ.live("/api/stream", (item) => {
    if (item.kind === "link") { $("linkdown").hidden = item.up; return; }
    if (pending) return;
    pending = setTimeout(() => { pending = null; refresh(); }, 150);
  }, (up) => { $("linkdown").hidden = up; });
  refresh();
})();
