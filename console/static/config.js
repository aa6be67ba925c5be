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
