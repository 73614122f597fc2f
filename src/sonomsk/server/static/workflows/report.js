/* sonomsk report panel: draft preview, sign off (freezes RESULTS + PDF), PDF download,
 * DICOM SR and FHIR bundle downloads, and C-STORE of the SR to a DICOM destination.
 * API: /api/workflows/report (src/sonomsk/server/workflow_report.py). */
"use strict";
(function () {
  const API = "/api/workflows/report";
  const esc = (s) => String(s === null || s === undefined ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  let root = null;
  // the last outcome of sending each report's SR, drawn into its card whenever the list is drawn
  const srOutcome = new Map();
  // one click at a time: the PDF takes seconds to render, and a second click would sign (or store)
  // again; the button is disabled until the answer, whatever it is
  // the signing time as stored, with its zone: UTC unless the database says otherwise (a time
  // without an offset was written in UTC)
  function signedAt(t) {
    const text = t || "";
    const zone = text.match(/([+-]\d\d:\d\d|Z)$/);
    const offset = zone && zone[1] !== "Z" && zone[1] !== "+00:00" ? zone[1] : "";
    return `${text.slice(0, 16).replace("T", " ")} UTC${offset}`;
  }
  async function busy(button, fn) {
    if (button.disabled) return;
    button.disabled = true;
    try { await fn(); } finally { button.disabled = false; }
  }

  async function renderReports(S) {
    const box = root && root.querySelector("#report-list");
    if (!box) return;  // another workflow's panel replaced this one while an answer was on its way
    if (!S.state.study) { box.innerHTML = ""; return; }
    const id = S.state.study.id;
    const list = await S.api(`${API}/studies/${id}/reports`);
    // the panel was replaced, or another study opened, while the list loaded: it is stale
    if (!box.isConnected || !S.state.study || S.state.study.id !== id) return;
    if (!list.length) { box.innerHTML = '<p class="small muted">No report yet.</p>'; return; }
    box.innerHTML = list.map((r) => `<div class="card small" data-report="${esc(r.id)}">
        <b>Report ${esc(r.id)}</b> · <span data-testid="report-status-${esc(r.id)}">${esc(r.status)}</span>${r.signed_by ? ` by ${esc(r.signed_by)} ${esc(signedAt(r.signed_at))}` : ""}
        <div style="margin:4px 0">
          <a data-testid="report-pdf-${esc(r.id)}" href="${API}/reports/${esc(r.id)}/pdf" download>PDF</a> ·
          <a href="${API}/reports/${esc(r.id)}/html" target="_blank" rel="noopener">HTML</a> ·
          <a href="${API}/reports/${esc(r.id)}/sr" download>DICOM SR</a> ·
          <a data-testid="report-fhir-${esc(r.id)}" href="${API}/reports/${esc(r.id)}/fhir" download>FHIR</a>
          ${r.status === "signed" || r.not_signable ? "" : ` · <button data-sign="${esc(r.id)}">Sign</button>`}
        </div>
        ${r.not_signable ? `<div class="muted" data-testid="report-not-signable-${esc(r.id)}">Cannot be signed: ${esc(r.not_signable.replace(/^report \d+: /, ""))}</div>` : ""}
        ${r.status === "signed" ? `<div>Send SR to: host <input type="text" data-f="host" value="127.0.0.1" style="width:7em">
          port <input type="number" data-f="port" value="104" style="width:5em">
          AE <input type="text" data-f="called_ae" value="PACS" style="width:6em">
          <button data-send="${esc(r.id)}" data-testid="sr-send-${esc(r.id)}">Send</button>
          <div data-testid="sr-result-${esc(r.id)}" class="muted">${esc(srOutcome.get(r.id) || "")}</div></div>` : ""}
      </div>`).join("");
    box.querySelectorAll("[data-sign]").forEach((b) => b.addEventListener("click", () => busy(b, async () => {
      S.setStatus(`signing report ${b.dataset.sign}: rendering the PDF…`);
      const r = await S.api(`${API}/reports/${b.dataset.sign}/sign`, { method: "POST" });
      S.setStatus(`report ${r.id} signed by ${r.signed_by}`);
      await renderReports(S);
    })));
    box.querySelectorAll("[data-send]").forEach((b) => b.addEventListener("click", () => busy(b, async () => {
      const card = b.closest("[data-report]");
      const v = (f) => card.querySelector(`[data-f="${f}"]`).value;
      const id = Number(b.dataset.send);
      // the list may be drawn again while the SR is on its way (a study reload): the outcome is
      // kept for the card and written into the result line shown when it arrives
      const said = (text, failed) => {
        srOutcome.set(id, text);
        const shown = document.querySelector(`[data-testid="sr-result-${id}"]`);
        if (shown) shown.textContent = text;
        S.setStatus(`report ${id}: ${text}`, failed);
      };
      said("sending…", false);
      try {
        const r = await S.api(`${API}/reports/${id}/send`, { json: { host: v("host"), port: Number(v("port")), called_ae: v("called_ae") } });
        said(`sent to ${r.destination}: status ${r.status}`, false);
      } catch (e) { said(`not sent: ${e.message}`, true); }
    })));
  }

  let bound = false;
  SONO.registerWorkflow("report", {
    async render(body, S) {
      root = body;
      if (!bound) {
        bound = true;
        S.on("study", () => { if (root && root.isConnected && S.state.currentWorkflow === "report") renderReports(S); });
      }
      body.innerHTML = `<div class="card">
          <button data-testid="report-preview" id="report-preview">Preview</button>
          <button data-testid="report-draft" id="report-draft" title="Store the results and the PDF as a draft, to sign later (or by a colleague)">Save draft</button>
          <button data-testid="report-sign" id="report-sign" title="Freeze the results and the PDF and sign them">Sign off</button>
          <div class="small muted">The preview is a draft and stores nothing. A saved draft can be signed later while the study is unchanged. Signing freezes the results and the PDF: a signed report cannot change.</div>
        </div>
        <div id="report-list" data-testid="report-list"></div>`;
      let modal = document.querySelector("#report-modal");
      if (!modal) {
        modal = document.createElement("div");
        modal.id = "report-modal";
        modal.className = "modal hidden";
        modal.innerHTML = `<div><b id="report-modal-title">Report preview</b> <button id="report-modal-close" style="float:right">Close</button></div>
          <iframe id="report-frame" data-testid="report-frame" title="report preview" sandbox=""></iframe>`;
        document.body.appendChild(modal);
        modal.querySelector("#report-modal-close").onclick = () => modal.classList.add("hidden");
      }
      const show = (title, html) => {
        modal.querySelector("#report-modal-title").textContent = title;
        modal.querySelector("#report-frame").srcdoc = html;
        modal.classList.remove("hidden");
      };
      body.querySelector("#report-preview").onclick = async () => {
        if (!S.state.study) return;
        const id = S.state.study.id;
        S.setStatus("rendering preview…");
        const html = await S.api(`${API}/studies/${id}/preview`);
        if (!S.state.study || S.state.study.id !== id) return;  // another study opened meanwhile
        show("Report preview (draft, not stored)", html);
        S.setStatus("draft preview (not stored)");
      };
      const draftBtn = body.querySelector("#report-draft");
      draftBtn.onclick = () => busy(draftBtn, async () => {
        if (!S.state.study) return;
        S.setStatus("saving a draft: rendering the PDF…");
        const r = await S.api(`${API}/studies/${S.state.study.id}/reports`, { json: { sign: false } });
        S.setStatus(`report ${r.id} saved as a draft`);
        await renderReports(S);
      });
      const signBtn = body.querySelector("#report-sign");
      signBtn.onclick = () => busy(signBtn, async () => {
        if (!S.state.study) return;
        S.setStatus("signing: rendering the PDF…");
        const r = await S.api(`${API}/studies/${S.state.study.id}/reports`, { json: { sign: true } });
        S.setStatus(`report ${r.id} signed by ${r.signed_by}`);
        if (!modal.classList.contains("hidden")) show(`Report ${r.id} (signed)`, await S.api(`${API}/reports/${r.id}/html`));
        await renderReports(S);
      });
      await renderReports(S);
    },
  });
})();
