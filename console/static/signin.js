"use strict";
document.getElementById("signin").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const err = document.getElementById("signin-error");
  err.textContent = "";
  try {
    const r = await HQ.api("POST", "/api/session", {
      staff: document.getElementById("staff").value.trim(),
      password: document.getElementById("password").value });
    const roles = r.staff.roles;
    location.href = roles.includes("manager") ? "/hall" : (!roles.includes("window") && roles.includes("reception"))
      ? "/reception" : "/window";
  } catch (e) {
    err.textContent = HQ.errorText(e);
    document.getElementById("password").select();
  }
});
