/* the configuration as the hall runs it, and the configurations it ran with (time, SHA-256, what changed) */
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  HQ.signoutButton();
  if (!$("c-services")) return;
  const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls;
                                    if (text !== undefined) e.textContent = text; return e; };
  const rows = (id, items) => { const t = $(id); t.textContent = "";
    for (const cells of items) { const tr = el("tr"); for (const c of cells) tr.appendChild(el("td", "", c)); t.appendChild(tr); } };
  (async () => {
    try {
      const r = await HQ.api("GET", "/api/config");
      const c = r.config;
      rows("c-services", c.services.map((s) => [s.prefix, s.id, s.zh]));
      rows("c-windows", c.windows.map((w) => [w.id, w.services.join(", ")]));
      rows("c-staff", c.staff.map((s) => [s.id, s.name, s.roles.join(", "), s.windows.join(", ")]));
      rows("c-devices", c.devices.map((d) => [d.id, d.kind, d.window || "—"]));
      const pv = $("c-privacy"); pv.textContent = "";
      const p = r.privacy;
      if (!p || p.error) pv.appendChild(el("li", "w", HQ.ui("privacy_unknown")));
      else {
        pv.appendChild(el("li", "w", p.days ? HQ.ui("privacy_kept", { keep: p.kept_days, n: p.days, oldest: p.oldest })
                                            : HQ.ui("privacy_none", { keep: p.kept_days })));
        for (const x of p.held) {
          const li = el("li", "w overdue", HQ.ui("privacy_held", { date: x.date, orders: x.orders.join(", ") }));
          li.dataset.held = x.date;
          pv.appendChild(li);
        }
        const last = p.purged[p.purged.length - 1];
        if (last) pv.appendChild(el("li", "w sub", HQ.ui("privacy_purged", { n: p.purged_days, date: last.date, on: last.on })));
      }
      const h = $("c-history"); h.textContent = "";
      for (const x of r.history) {
        const d = el("details"); const s = el("summary", "", x.at.slice(0, 19).replace("T", " ") + " · sha256 " + x.sha.slice(0, 16));
        d.appendChild(s);
        if (x.diff) d.appendChild(el("pre", "diff", x.diff));
        h.appendChild(d);
      }
    } catch (e) { HQ.say(HQ.errorText(e), "bad"); }
  })();
})();
