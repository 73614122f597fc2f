/* sonomsk sign-in: POST /api/login sets an HttpOnly session cookie, then the viewer opens. */
"use strict";
document.getElementById("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const status = document.getElementById("login-status");
  status.textContent = "signing in…";
  const body = {
    username: document.getElementById("login-user").value,
    password: document.getElementById("login-password").value,
  };
  try {
    const r = await fetch("/api/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    if (r.ok) { window.location.assign("/"); return; }
    const data = await r.json().catch(() => ({}));
    status.textContent = data.detail || `sign-in failed (${r.status})`;
  } catch (err) {
    status.textContent = "sign-in failed: server not reachable";
  }
});
