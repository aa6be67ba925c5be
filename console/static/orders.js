/* 差评 work orders: newest first, deadline in working days, overdue marked */
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  HQ.signoutButton();
  if (!$("order-rows")) return;
  const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls;
                                    if (text !== undefined) e.textContent = text; return e; };
  async function load() {
    try {
      const r = await HQ.api("GET", "/api/workorders");
      const rows = $("order-rows"); rows.textContent = "";
      if (!r.orders.length) { const tr = el("tr"); const td = el("td", "w", HQ.ui("no_orders")); td.colSpan = 7;
                              tr.appendChild(td); rows.appendChild(tr); }
      for (const o of r.orders) {
        const tr = el("tr", o.overdue ? "overdue" : ""); tr.dataset.order = o.id;
        const a = el("a", "", o.id); a.href = "/orders/" + encodeURIComponent(o.id);
        const id = el("td"); id.appendChild(a);
        const dl = el("td", "", o.deadline);
        if (o.overdue) dl.append(" ", el("span", "esc-tag w", HQ.ui("overdue")));
        else if (o.days_left != null) dl.append(" ", el("span", "sub w", HQ.ui("days_left", { n: o.days_left })));
        tr.append(id, el("td", "", o.ticket + " (" + o.date + ")"), el("td", "", o.window || "—"),
                  el("td", "", (o.staff_name ? o.staff_name + " " : "") + (o.staff || "—")), el("td", "", String(o.level)), el("td", "", o.state_zh), dl);
        rows.appendChild(tr);
      }
    } catch (e) { HQ.say(HQ.errorText(e), "bad"); }
  }
  // the monthly 回访 sample: draw it (once), then record each call's result
  const month = $("rv-month");
  const d = new Date(); d.setDate(1); d.setMonth(d.getMonth() - 1);
  month.value = d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0");
  function showSample(s) {
    const rows = $("rv-rows"); rows.textContent = "";
    if (!s) { $("rv-summary").textContent = HQ.ui("not_drawn"); return; }
    $("rv-summary").textContent = HQ.ui("sample_summary", { month: s.month, rated: s.rated, n: s.tickets.length,
      share: s.share, seed: s.seed, called: s.called, satisfied: s.satisfied });
    for (const t of s.tickets) {
      const tr = el("tr"); tr.dataset.ticket = t.date + ":" + t.ticket;
      tr.append(el("td", "", t.ticket + " (" + t.date + ")"));
      const res = el("td");
      if (t.result) {
        res.append(el("span", "w", HQ.ui(t.result.satisfied ? "satisfied" : "not_satisfied")),
                   " · " + (t.result.note || "") + " · " + (t.result.by || ""));
      } else {
        const note = el("input"); note.maxLength = 1000; note.setAttribute("aria-label", HQ.ui("revisit_note") + " " + t.ticket);
        res.appendChild(note);
        for (const ok of [true, false]) {
          const b = el("button", "small w", HQ.ui(ok ? "satisfied" : "not_satisfied")); b.type = "button";
          b.addEventListener("click", async () => {
            try {
              const r = await HQ.api("POST", "/api/revisits/" + s.month + "/" + t.date + "/" + encodeURIComponent(t.ticket),
                                     { satisfied: ok, note: note.value.trim() });
              showSample(r.sample); HQ.say(HQ.ui("saved"), "good");
            } catch (e) { HQ.say(HQ.errorText(e), "bad"); }
          });
          res.appendChild(b);
        }
      }
      tr.appendChild(res); rows.appendChild(tr);
    }
  }
  async function sample(method) {
    try { showSample((await HQ.api(method, "/api/revisits/" + month.value)).sample); HQ.say(""); }
    catch (e) { HQ.say(HQ.errorText(e), "bad"); }
  }
  $("rv-show").addEventListener("click", () => sample("GET"));
  $("rv-form").addEventListener("submit", (ev) => { ev.preventDefault(); sample("POST"); });
  sample("GET");

  let pending = null;
  HQ.live("/api/stream", (item) => {
    if (item.kind === "event" && /^workorder\./.test(item.event.type) && !pending) {
      pending = setTimeout(() => { pending = null; load(); }, 100);
    }
  });
  load();
})();
