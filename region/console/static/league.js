"use strict";
const W = JSON.parse(document.getElementById("words").textContent);
const LV = JSON.parse(document.getElementById("levels").textContent);
const lang = document.body.classList.contains("lang-mn") ? "mn" : "zh";
let csrf = null;
const $ = (s) => document.querySelector(s);
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text != null) e.textContent = text; if (cls) e.className = cls; return e; };
const pct = (x) => (x == null ? "–" : (100 * x).toFixed(1) + "%");
const secs = (x) => (x == null ? "–" : x >= 60 ? Math.round(x / 60) + "′" : Math.round(x) + "″");
const name = (n) => (lang === "mn" && n.mn) ? n.mn : n.zh;

async function api(path, opts = {}) {
  const headers = { "Content-Type": "application/json" };
  if (csrf) headers["X-CSRF-Token"] = csrf;
  const r = await fetch(path, { ...opts, headers, credentials: "same-origin" });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) { const e = new Error((body.error && body.error.message) || r.status); e.status = r.status; e.code = body.error && body.error.code; throw e; }
  return body;
}

function row(tbody, cells, cls) { const tr = el("tr"); cells.forEach(([t, c]) => tr.appendChild(el("td", t, c))); if (cls) tr.className = cls; tbody.appendChild(tr); }

async function halls() {
  const d = await api("/api/halls");
  $("#conn").classList.toggle("up", d.connected);
  const tb = $("#halls tbody"); tb.replaceChildren();
  const sel = $("#forward select[name=hall]");
  if (!sel.options.length) d.halls.forEach((h) => sel.appendChild(new Option(name(h.name), h.id)));
  d.halls.forEach((h) => row(tb, [[name(h.name)], [LV[h.level]], [W[h.status] || h.status, "s-" + h.status],
    [h.link, "s-" + h.link], [h.windows_open], [h.waiting], [secs(h.longest_wait_s)], [h.alerts_open]]));
}

async function figures() {
  const p = $("#period").value, day = $("#fdate").value;
  const q = `period=${p}` + (day ? `&date=${day}` : "");
  $("#figures-xlsx").href = "/api/figures.xlsx?" + q;
  const d = await api("/api/figures?" + q);
  const tb = $("#figures tbody"); tb.replaceChildren();
  d.halls.forEach((f) => row(tb, [[name(f.name)], [f.issued], [f.served], [pct(f.good_rate)], [f.bad],
    [pct(f.rectified_rate)], [secs(f.wait_mean_s)], [f.alerts_raised]]));
}

async function ranking() {
  const m = $("#month").value;
  const q = m ? `month=${m}` : "";
  $("#ranking-xlsx").href = "/api/ranking.xlsx?" + q;
  const d = await api("/api/ranking?" + q);
  const tb = $("#ranking tbody"); tb.replaceChildren();
  d.ranking.forEach((f) => row(tb, [[f.rank], [name(f.name)], [pct(f.good_rate)], [pct(f.rectified_rate)], [secs(f.wait_mean_s)]]));
}

async function orders() {
  const d = await api("/api/workorders?state=all");
  const tb = $("#orders tbody"); tb.replaceChildren();
  d.orders.forEach((o) => row(tb, [[o.hall], [o.id], [o.ticket], [o.state], [o.deadline, o.overdue ? "overdue" : ""],
    [o.forwarded ? (o.forwarded.ref || "✓") : ""]]));
}

async function alerts() {
  const d = await api("/api/alerts?state=open");
  const tb = $("#alerts tbody"); tb.replaceChildren();
  d.alerts.slice(0, 30).forEach((a) => row(tb, [[a.hall], [a.at.slice(5, 16).replace("T", " ")], [a.kind], [a.message]]));
}

async function refresh() {
  for (const f of [halls, figures, ranking, orders, alerts]) {
    try { await f(); } catch (e) { if (e.status === 401) return showSignin(); }
  }
}

function showSignin() { $("#signin").hidden = false; $("#app").hidden = true; $("#signout").hidden = true; }
function showApp(staff) { $("#signin").hidden = true; $("#app").hidden = false; $("#signout").hidden = false; $("#who").textContent = staff.name; refresh(); }

$("#signin").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  try { const d = await api("/api/session", { method: "POST", body: JSON.stringify({ staff: f.get("staff"), password: f.get("password") }) });
    csrf = d.csrf; showApp(d.staff);
  } catch (e) { $("#signin-error").textContent = e.message; }
});
$("#signout").addEventListener("click", async () => { await api("/api/session", { method: "DELETE" }).catch(() => {}); csrf = null; showSignin(); });
$("#forward").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = Object.fromEntries(new FormData(ev.target).entries());
  if (!f.ticket) delete f.ticket;
  f.level = 1;
  try { const d = await api("/api/workorders/forward", { method: "POST", body: JSON.stringify(f) });
    $("#forward-result").textContent = "✓ " + d.result.order.id; setTimeout(orders, 1500);
  } catch (e) { $("#forward-result").textContent = (e.code || "") + " " + e.message; }
});
["#period", "#fdate"].forEach((s) => $(s).addEventListener("change", figures));
$("#month").addEventListener("change", ranking);
(async () => {
  try { const d = await api("/api/session"); csrf = d.csrf; showApp(d.staff); } catch (e) { showSignin(); }
  setInterval(() => { if (!$("#app").hidden) halls().catch(() => {}); }, 3000);
})();
