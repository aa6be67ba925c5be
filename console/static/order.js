/* one 差评 work order: the rating, ticket, window and staff, the timeline, and the step its state allows
   (verify → feedback → revisit; appeal and its decision by someone else) */
"use strict";
(() => {
  const page = JSON.parse(document.getElementById("page").textContent);
  const $ = (id) => document.getElementById(id);
  HQ.signoutButton();
  if (!$("o-state")) return;
  const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls;
                                    if (text !== undefined) e.textContent = text; return e; };
  const levels = { 5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意" };
  const forms = { pending: ["verify", "appeal"], rectifying: ["feedback", "appeal"], fed_back: ["revisit"],
                  appealed: ["decide"], revisited: [], set_aside: [] };
  const names = { wo_verify: "verify", wo_feedback: "feedback", wo_revisit: "revisit", wo_appeal: "appeal",
                  wo_decide: "decide" };
  function render(o) {
    $("o-state").textContent = o.state_zh + (o.overdue ? " · " + HQ.ui("overdue") : "");
    $("o-state").className = o.overdue ? "overdue" : "";
    $("o-ticket").textContent = o.ticket + " (" + o.date + ")";
    $("o-window").textContent = o.window || "—";
    $("o-staff").textContent = (o.staff_name ? o.staff_name + " " : "") + (o.staff || "—") + (o.unit ? " · " + o.unit : "");
    const r = o.rating || {};
    $("o-level").textContent = o.level + " " + (levels[o.level] || "") + (r.reasons && r.reasons.length ? " · " + r.reasons.join("、") : "")
      + (r.channel ? " · " + r.channel : "");
    $("o-deadline").textContent = o.deadline + (o.days_left != null && !o.overdue ? " · " + HQ.ui("days_left", { n: o.days_left }) : "")
      + (o.complex ? " · " + HQ.ui("complex_case") : "");
    const h = $("o-history"); h.textContent = "";
    const li0 = el("li"); li0.append(el("time", "", o.opened_at.slice(0, 16).replace("T", " ")), " ", el("span", "w", HQ.ui("bad_n"))); h.appendChild(li0);
    for (const s of o.history) {
      const li = el("li");
      li.append(el("time", "", (s.at || "").slice(0, 16).replace("T", " ")), " ",
                el("strong", "w", HQ.ui(names[s.action] || s.action)), " · " + (s.by || "") + (s.note ? " · " + s.note : ""));
      h.appendChild(li);
    }
    document.querySelectorAll(".wo-form").forEach((f) => { f.hidden = !(forms[o.state] || []).includes(f.dataset.action); });
  }
  async function load() {
    try { render((await HQ.api("GET", "/api/workorders/" + encodeURIComponent(page.order))).order); }
    catch (e) { HQ.say(HQ.errorText(e), "bad"); }
  }
  document.querySelectorAll(".wo-form").forEach((f) => f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const action = f.dataset.action;
    const body = {};
    const note = f.elements.note.value.trim();
    if (note) body.note = note;
    if (action === "verify") body.complex = f.elements.complex.checked;
    if (action === "revisit") body.satisfied = f.elements.satisfied.value === "true";
    if (action === "appeal") body.reason = f.elements.reason.value;
    if (action === "decide") body.uphold = f.elements.uphold.value === "true";
    try {
      const r = await HQ.api("POST", "/api/workorders/" + encodeURIComponent(page.order) + "/" + action, body);
      HQ.say(HQ.ui("saved"), "good");
      f.reset();
      await load();
      return r;
    } catch (e) {
      const text = action === "decide" && e.code === "NOT_ALLOWED" ? HQ.words.errors.NOT_ALLOWED_DECIDE : HQ.errorText(e);
      HQ.say(text, "bad");
    }
  }));
  load();
})();
