/* the citizen's ticket page: live status (people ahead, estimated wait, the window once called), then the rating */
"use strict";
(() => {
  const data = JSON.parse(document.getElementById("ticket").textContent);
  const W = data.words;
  const $ = (id) => document.getElementById(id);
  let level = 0;
  let last = null;
  const fill = (s, vars) => s.replace(/\{(\w+)\}/g, (_, n) => (n in vars ? vars[n] : ""));

  function render(t) {
    const prev = last;
    last = t;
    let zh = "", mn = "", wait = "", waitMn = "";
    const st = $("status");
    st.classList.remove("called");
    if (t.status === "waiting") {
      [zh, mn] = W.st_waiting.map((s) => fill(s, { n: t.ahead }));
      if (t.est_wait_s != null) [wait, waitMn] = W.est_wait.map((s) => fill(s, { m: Math.max(1, Math.ceil(t.est_wait_s / 60)) }));
      else [wait, waitMn] = W.est_wait_unknown;
    } else if (t.status === "serving") {
      [zh, mn] = W.st_serving.map((s) => fill(s, { window: t.window }));
      st.classList.add("called");
      if (!prev || prev.status !== "serving") {
        if (navigator.vibrate) navigator.vibrate([300, 150, 300]);
        beep();
      }
    } else if (t.status === "finished") {
      [zh, mn] = W.st_finished;
    } else if (t.status === "no_show") {
      [zh, mn] = W.st_no_show;
    } else if (t.status === "held") {
      zh = "已挂起：请补齐材料后回到窗口，工作人员会为您回呼"; mn = W.st_waiting[1].split(" ᠂")[0];
    } else if (t.status === "cancelled") {
      zh = "此号已作废"; mn = W.st_no_show[1];
    }
    st.textContent = zh;
    $("wait").textContent = wait;
    $("mn-status").textContent = mn + (waitMn ? " ᠂ " + waitMn : "");
    if (t.answer) { $("answer").hidden = false; $("answer-text").textContent = t.answer; }
    const canRate = t.status === "finished" && !t.rated;
    if (!$("thanks").hidden) return;
    $("rate").hidden = !canRate;
  }

  function beep() {
    try {
      const ctx = new (window.AudioContext || window.webkitAudioContext)();
      const o = ctx.createOscillator(); o.frequency.value = 880; o.connect(ctx.destination);
      o.start(); o.stop(ctx.currentTime + 0.3);
    } catch (e) { /* no sound before a user gesture: fine */ }
  }

  document.querySelectorAll(".level").forEach((b) => b.addEventListener("click", () => {
    level = Number(b.dataset.level);
    document.querySelectorAll(".level").forEach((x) => x.setAttribute("aria-checked", String(x === b)));
    $("reasons").hidden = level > 2;
    $("rate-submit").disabled = false;
  }));

  $("rate-submit").addEventListener("click", async () => {
    const reasons = level <= 2 ? [...document.querySelectorAll("input[name=reasons]:checked")].map((x) => x.value) : [];
    const body = { q: data.ref, level, reasons };
    const comment = $("comment").value.trim();
    if (comment) body.comment = comment;
    $("rate-submit").disabled = true;
    try {
      const r = await fetch("/t/rate", { method: "POST", headers: { "Content-Type": "application/json" },
                                         body: JSON.stringify(body) });
      const d = await r.json();
      if (!r.ok) throw d.error || {};
      $("rate").hidden = true; $("thanks").hidden = false; $("thanks-bad").hidden = level > 2;
    } catch (e) {
      const msg = { ALREADY_RATED: "这次服务已经评价过了，感谢您的参与。", RATING_CLOSED: "补充评价期限已过，无法再评价。",
                    NOT_SERVED: "这张号票还没有办理完成，办结后再来评价。" }[e.code] || "评价没有提交成功，请稍后再试。";
      $("rate-error").textContent = msg;
      $("rate-submit").disabled = false;
    }
  });

  render(data.ticket);
  const es = new EventSource("/t/stream?q=" + encodeURIComponent(data.ref));
  es.onmessage = (e) => { try { const d = JSON.parse(e.data); if (d.ticket) render(d.ticket); } catch (err) { /* ignore */ } };
})();
