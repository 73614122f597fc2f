/* sonomsk nerve-study panel: sites and sides, automatic and click outlines, corrected CSA,
 * assessment against reference limits (CSA profile chart) and the differential.
 * API: /api/workflows/nerve (src/sonomsk/server/workflow_nerve.py). */
"use strict";
(function () {
  const API = "/api/workflows/nerve";
  const esc = (s) => String(s === null || s === undefined ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const fmt = (v, d = 2) => (v === null || v === undefined ? "–" : typeof v === "number" ? v.toFixed(d) : esc(v));
  // a ratio, a count or a failed measure has no unit to show
  const unitText = (u) => esc({ mm2: "mm²", px2: "px²", none: "", "1": "", count: "" }[u] ?? (u || ""));
  // Every value from the server that reaches innerHTML below goes through esc() or fmt():
  // labels, sites, notes, sources and messages can come from uploaded files.
  let root = null;
  let vocab = null;
  let lastAssessment = null;
  let assessedStudy = null;

  function instances(S) {
    const st = S.state.study;
    return st ? st.series.flatMap((se) => se.instances) : [];
  }
  function outlinesOf(S, instId) {
    const st = S.state.study;
    if (!st) return [];
    return (st.analyses || []).filter((a) => a.kind === "nerve_morphology" && a.instance_id === instId);
  }
  function latestOutline(S, instId) {
    const list = outlinesOf(S, instId);
    // the outline the image's CSA uses when the clinician chose one (decision 008), else the latest
    const chosen = list.filter((a) => a.structures.length && a.structures[0].accepted);
    if (chosen.length) return chosen[chosen.length - 1];
    return list.length ? list[list.length - 1] : null;
  }
  // the outline whose CSA is the image's, by the server's rule (workflow_nerve.image_outline,
  // decision 008): the only one, or the only one chosen; several candidates give none, with why
  function imageOutline(S, instId) {
    const list = outlinesOf(S, instId);
    if (list.length <= 1) return { a: list[0] || null, why: list.length ? null : "no nerve outline" };
    const chosen = list.filter((a) => a.structures.length && a.structures[0].accepted);
    if (chosen.length === 1) return { a: chosen[0], why: null };
    const n = chosen.length || list.length;
    return { a: null, why: `${n} nerve outlines on this image${chosen.length ? " are chosen" : ", none chosen"}: accept or discard one` };
  }
  // the outline the panel shows, per image, when the clinician stepped to another one (its analysis id)
  const stepped = {};
  function shownOutline(S, instId) {
    const list = outlinesOf(S, instId);
    return list.find((a) => a.id === stepped[instId]) || latestOutline(S, instId);
  }
  function csaOf(analysis) {
    if (!analysis) return null;
    return analysis.measurements.find((m) => m.name === "area_cross_section") || null;
  }

  // ------------------------------------------------------------------ images: site & side
  function siteOptions(selected) {
    const opts = ['<option value="">site…</option>'];
    for (const s of vocab.sites) opts.push(`<option value="${esc(s.name)}"${s.name === selected ? " selected" : ""}>${esc(s.name.replace(/_/g, " "))}</option>`);
    return opts.join("");
  }
  function sideOptions(selected) {
    return ['<option value="">side…</option>'].concat(vocab.sides.map((s) => `<option value="${esc(s)}"${s === selected ? " selected" : ""}>${esc(s)}</option>`)).join("");
  }
  function detailSelect(i) {
    // the measurement level where the site has several, the trunk at the plexus trunk site
    const info = vocab.sites.find((s) => s.name === i.site);
    const parts = [];
    if (info && info.levels && info.levels.length) {
      // the default level is stored as no level (the server keeps one form of it)
      // a site without a default level (the plexus trunk) may have none named
      const opts = (info.default_level ? [] : [`<option value=""${i.level ? "" : " selected"}>no level</option>`]).concat(info.levels.map((l) => {
        const v = l === info.default_level ? "" : l;
        const label = l.replace(/_/g, " ") + (v ? "" : " (default)");
        return `<option value="${esc(v)}"${v === (i.level || "") ? " selected" : ""}>${esc(label)}</option>`;
      }));
      parts.push(`<select data-testid="level-select-${esc(i.id)}" data-field="level" title="measurement level (decides the limit and the rules)">${opts.join("")}</select>`);
    }
    if (i.site === "brachial_plexus_trunk") {
      const opts = ['<option value="">trunk…</option>'].concat(vocab.trunks.map((t) => `<option value="${esc(t)}"${t === i.trunk ? " selected" : ""}>${esc(t)}</option>`));
      parts.push(`<select data-testid="trunk-select-${esc(i.id)}" data-field="trunk">${opts.join("")}</select>`);
    }
    return parts.join(" ");
  }
  function renderImages(S) {
    const box = root && root.querySelector("#nerve-images");
    if (!box) return;  // another workflow's panel replaced this one while an answer was on its way
    const list = instances(S);
    if (!list.length) { box.innerHTML = '<p class="muted">Open or upload a study.</p>'; return; }
    const rows = list.map((i) => {
      const img = imageOutline(S, i.id);
      const m = csaOf(img.a);
      const choose = !img.a && outlinesOf(S, i.id).length > 1;
      // a calibrated image measured in px: the outline leaves the calibrated tissue region
      const outside = m && i.calibrated && m.unit === "px2"
        ? ` <span class="flag-enlarged" data-testid="csa-outside-${esc(i.id)}" title="the outline leaves the calibrated tissue region: CSA in px², not comparable with reference values; redraw it inside the region">outline leaves the calibrated region</span>` : "";
      const csa = m ? `${fmt(m.value)} ${unitText(m.unit)}${m.corrected_value !== null ? " *" : ""}${outside}`
        : choose ? `<span class="flag-enlarged" data-testid="csa-choose-${esc(i.id)}" title="${esc(img.why)}">choose an outline</span>` : "–";
      // the CSA next to the image name: the table is wider than the panel, and the value (or why
      // there is none) must be seen without scrolling sideways
      return `<tr data-instance="${esc(i.id)}"><td><a href="#" data-show="${esc(i.id)}">${esc(i.label || i.id)}</a></td>
        <td class="small">${csa}</td>
        <td><select data-testid="site-select-${esc(i.id)}" data-field="site">${siteOptions(i.site)}</select></td>
        <td><select data-testid="side-select-${esc(i.id)}" data-field="side">${sideOptions(i.side)}</select></td>
        <td>${detailSelect(i)}</td></tr>`;
    });
    box.innerHTML = `<table><tr><th>image</th><th>CSA</th><th>site</th><th>side</th><th>level / trunk</th></tr>${rows.join("")}</table>
      <p class="small muted">* corrected outline. Uncalibrated images give px² and are not assessed.</p>`;
    box.querySelectorAll("a[data-show]").forEach((a) => a.addEventListener("click", (e) => { e.preventDefault(); S.showInstance(Number(a.dataset.show)); }));
    box.querySelectorAll("select").forEach((sel) => sel.addEventListener("change", async () => {
      const tr = sel.closest("tr");
      const id = Number(tr.dataset.instance);
      const value = (f) => { const el = tr.querySelector(`[data-field="${f}"]`); return (el && el.value) || null; };
      const site = value("site");
      const side = value("side");
      // a new site starts at its default level and without a trunk
      const keep = sel.dataset.field !== "site";
      await S.api(`${API}/instances/${id}/site`, { method: "PUT", json: { site, side, level: keep ? value("level") : null, trunk: keep ? value("trunk") : null } });
      S.setStatus(`image ${id}: ${site || "no site"} ${side || ""}`);
      await S.reloadStudy();
    }));
  }

  // ------------------------------------------------------------------ current image
  let shownFrameKey = "";  // which outline the panel shows, and whether it is on the frame shown
  function renderCurrent(S) {
    const box = root && root.querySelector("#nerve-current");
    if (!box) return;  // another workflow's panel replaced this one while an answer was on its way
    const pane = S.activePane();
    const inst = pane && pane.inst;
    if (!inst) { box.innerHTML = ""; return; }
    const list = outlinesOf(S, inst.id);
    const a = shownOutline(S, inst.id);
    let table = '<p class="muted small">No outline yet: run the automatic segmentation, click inside the nerve or drag a box around it.</p>';
    if (a) {
      const rows = a.measurements.map((m) => {
        // corrected: a new value, or a failure on the corrected outline; the automatic value stays visible
        const corrected = m.corrected_value !== null || (m.corrected_failure !== null && m.corrected_failure !== undefined);
        const val = m.value === null ? `<span class="muted">${esc(m.failure || "failed")}</span>` : fmt(m.value, m.unit === "count" ? 0 : 3);
        const tid = m.name === "area_cross_section" ? ' data-testid="nerve-csa"' : "";
        // a calibrated image measured in px: the outline leaves its calibrated tissue region
        const why = m.name === "area_cross_section" && inst.calibrated && m.unit === "px2"
          ? '<div class="small flag-enlarged" data-testid="nerve-csa-outside">outline leaves the calibrated region: redraw it inside to measure in mm²</div>' : "";
        return `<tr><td>${esc(m.name.replace(/_/g, " "))}</td><td${tid}>${val}${why}</td><td>${unitText(m.unit)}</td><td class="small muted">${corrected && m.auto_value !== null ? `auto ${fmt(m.auto_value, m.unit === "count" ? 0 : 3)}` : ""}</td></tr>`;
      });
      const s = a.structures[0];
      const n = list.length;
      const k = list.indexOf(a);
      const stepper = n > 1 ? `<div style="margin:4px 0"><button data-testid="nerve-prev" id="nerve-prev" title="Show the previous outline of this image">◀</button>
        <span data-testid="nerve-outline-index">${k + 1} of ${n}</span>
        <button data-testid="nerve-next" id="nerve-next" title="Show the next outline of this image">▶</button>
        <span class="small muted">the thick outline on the image; accept one for the image's CSA</span></div>` : "";
      // a cine's outlines lie on different frames: say which, and when the image shows another
      const onFrame = s && inst.frames > 1
        ? ` on frame <span data-testid="nerve-outline-frame">${s.frame + 1}</span>${s.frame !== pane.frame ? ` (not the frame shown: <button data-testid="nerve-show-frame" id="nerve-show-frame">show frame ${s.frame + 1}</button>)` : ""}`
        : "";
      const img = imageOutline(S, inst.id);
      const choose = img.a ? "" : `<p class="small flag-enlarged" data-testid="nerve-choose">${esc(img.why)}; the image has no CSA until then.</p>`;
      table = `${stepper}${choose}<p class="small">Outline ${s ? esc(s.id) : ""}${onFrame} (${esc(a.result.source || "")}${s && s.corrected_points ? ", corrected" : ""}${s && s.accepted ? ", accepted" : ""})${a.result.method ? `, drawn by ${esc(a.result.method)}` : ""}${n > 1 ? ` of ${n} on this image` : ""}. Drag its points with <b>Edit outline</b>; every measure is recomputed.</p>
        ${a.result.note ? `<p class="small" data-testid="nerve-outline-note"><b>${esc(a.result.note)}</b></p>` : ""}
        ${s ? `<div style="margin:4px 0"><button data-testid="nerve-accept" id="nerve-accept" title="Use this outline for the image's CSA">Accept outline</button>
        <button data-testid="nerve-discard" id="nerve-discard" title="Delete this outline and its measures">Discard outline</button>
        ${s.corrected_points ? `<button data-testid="nerve-restore" id="nerve-restore" title="Go back to the outline as drawn automatically (by the segmentation, the click or the box) and its values; the correction stays in the audit trail">Restore automatic outline</button>` : ""}</div>` : ""}
        <table><tr><th>measure</th><th>value</th><th>unit</th><th></th></tr>${rows.join("")}</table>`;
    }
    const where = [inst.site, inst.side, inst.trunk && `${inst.trunk} trunk`, inst.level].filter(Boolean).join(" ") || "no site/side";
    box.innerHTML = `<div><b>${esc(inst.label || inst.id)}</b> <span class="muted">${esc(where)}${inst.calibrated ? "" : " · uncalibrated (px)"}</span></div>
      <div style="margin:6px 0">
        <button data-testid="nerve-segment" id="nerve-segment">Automatic outline</button>
        <button data-testid="nerve-outline" id="nerve-outline" title="Click inside a nerve, or drag a box around it">Click or box to outline</button>
        <button data-testid="nerve-contralateral" id="nerve-contralateral" title="Load the other side of this site into pane 2">Contralateral ⇆</button>
      </div><div id="nerve-note" class="small muted"></div>${table}`;
    box.querySelector("#nerve-segment").onclick = async () => {
      S.setStatus("segmenting…");
      const r = await S.api(`${API}/instances/${inst.id}/segment`, { json: { frame: pane.frame } });
      S.setStatus(`${r.analyses.length} nerve outline(s) (${r.backend})`);
      await S.reloadStudy();
      // the panel may have been re-rendered or replaced by another workflow's meanwhile
      // (and only for the image it is about)
      const shown = S.activePane().inst;
      const note = r.note && shown && shown.id === inst.id && root && root.querySelector("#nerve-note");
      if (note) note.textContent = r.note;
    };
    box.querySelector("#nerve-outline").onclick = () => {
      S.state.tool = "nerve-outline";
      document.querySelectorAll("#toolbar [data-tool]").forEach((x) => x.classList.remove("active"));
      box.querySelector("#nerve-outline").classList.add("active");
      S.setStatus("click inside the nerve, or drag a box around it");
    };
    box.querySelector("#nerve-contralateral").onclick = () => loadContralateral(S, inst);
    const s = a && a.structures[0];
    shownFrameKey = `${inst.id}:${a ? a.id : ""}:${!!(s && s.frame === pane.frame)}`;
    const focus = s ? s.id : null;
    if (S.state.focusStructure !== focus) { S.state.focusStructure = focus; S.redraw(); }
    if (list.length > 1) {
      const step = async (d) => {
        const next = list[(list.indexOf(a) + d + list.length) % list.length];
        stepped[inst.id] = next.id;
        const f = next.structures.length ? next.structures[0].frame : pane.frame;
        if (inst.frames > 1 && f !== pane.frame) await S.showFrame(pane, f);  // emits "frame": re-rendered
        else renderCurrent(S);
      };
      box.querySelector("#nerve-prev").onclick = () => step(-1);
      box.querySelector("#nerve-next").onclick = () => step(1);
    }
    const show = box.querySelector("#nerve-show-frame");
    if (show) show.onclick = () => S.showFrame(pane, s.frame);
    if (s) {
      box.querySelector("#nerve-accept").onclick = async () => {
        await S.api(`${API}/structures/${s.id}/accept`, { method: "POST" });
        S.setStatus(`outline ${s.id} accepted: it gives this image's CSA`);
        await S.reloadStudy();
      };
      const restore = box.querySelector("#nerve-restore");
      if (restore) restore.onclick = async () => {
        await S.api(`${API}/structures/${s.id}/restore`, { method: "POST" });
        S.setStatus(`outline ${s.id}: automatic outline and values restored`);
        await S.reloadStudy();
      };
      box.querySelector("#nerve-discard").onclick = async () => {
        if (!window.confirm(`Discard outline ${s.id} and its measures?`)) return;
        await S.api(`${API}/structures/${s.id}`, { method: "DELETE" });
        S.setStatus(`outline ${s.id} discarded`);
        await S.reloadStudy();
      };
    }
  }
  async function loadContralateral(S, inst) {
    const r = await S.api(`${API}/instances/${inst.id}/contralateral`);
    if (!S.findInstance(r.instance_id)) return;  // another study opened while the answer was on its way
    const cb = document.querySelector("#compare");
    if (!cb.checked) { cb.checked = true; cb.dispatchEvent(new Event("change")); }
    await S.showInstance(r.instance_id, 1);
    const pane = S.state.panes[1];
    // another study opened while the answer was on its way: pane 2 did not take that image
    if (!pane.inst || pane.inst.id !== r.instance_id) return;
    S.setStatus(`pane 2: ${r.site} ${r.side}`);
  }

  // ------------------------------------------------------------------ assessment
  function renderAssessForm(S) {
    const box = root && root.querySelector("#nerve-assess");
    if (!box) return;  // another workflow's panel replaced this one while an answer was on its way
    const p = (S.state.study && S.state.study.patient) || {};
    const sex = (p.sex || "").toUpperCase();
    box.innerHTML = `<div class="small">Patient (optional covariates):
      age <input id="np-age" type="number" min="0" max="120" style="width:4em"${Number.isInteger(p.age_at_study) ? ` value="${p.age_at_study}" title="from the birth date and the study date"` : ""}>
      sex <select id="np-sex"><option value=""></option><option${sex === "F" ? " selected" : ""}>F</option><option${sex === "M" ? " selected" : ""}>M</option></select>
      height <input id="np-height" type="number" style="width:4em"> cm
      weight <input id="np-weight" type="number" style="width:4em"> kg</div>
      <button data-testid="nerve-assess" id="nerve-assess-btn" style="margin-top:6px">Assess CSA across sites</button>`;
    box.querySelector("#nerve-assess-btn").onclick = async () => {
      const num = (id) => { const v = box.querySelector(id).value; return v === "" ? null : Number(v); };
      const patient = { age: num("#np-age"), sex: box.querySelector("#np-sex").value || null, height_cm: num("#np-height"), weight_kg: num("#np-weight") };
      const st = S.state.study;
      if (!st) { S.setStatus("open a study first"); return; }
      S.setStatus("assessing…");
      const res = await S.api(`${API}/studies/${st.id}/assess`, { json: { patient } });
      // stored for its study; shown only if that study is still the open one
      if (!S.state.study || S.state.study.id !== st.id) return;
      lastAssessment = res;
      assessedStudy = st.id;
      renderResult(S);
      S.setStatus(`pattern: ${lastAssessment.assessment.pattern}`);
    };
  }

  function chartSvg(profile) {
    // one small chart per nerve: CSA per site (x, in vocabulary order) per side, ULN dashed.
    const byNerve = {};
    for (const r of profile) (byNerve[r.nerve] = byNerve[r.nerve] || []).push(r);
    const W = 330, H = 150, L = 34, R = 8, T = 16, B = 30;
    const sideColor = { right: "#58a6ff", left: "#f0883e" };
    const out = [];
    for (const [nerve, rows] of Object.entries(byNerve)) {
      const sites = [...new Set(rows.slice().sort((a, b) => a.order - b.order).map((r) => r.site))];
      const ymax = Math.max(...rows.map((r) => Math.max(r.csa, r.uln || 0))) * 1.15 || 1;
      const P = 26; // room for the end labels and ULN ticks
      const x = (s) => L + P + (sites.length === 1 ? (W - L - R - 2 * P) / 2 : (sites.indexOf(s) * (W - L - R - 2 * P)) / (sites.length - 1));
      const y = (v) => T + (H - T - B) * (1 - v / ymax);
      const g = [`<text x="${L}" y="11" fill="#e6e6e6" font-size="11">${esc(nerve)} nerve: CSA (mm²) per site, ULN dashed</text>`];
      for (let k = 0; k <= 4; k++) {
        const v = (ymax * k) / 4;
        g.push(`<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="#30363d"/><text x="${L - 4}" y="${y(v) + 3}" fill="#8b949e" font-size="9" text-anchor="end">${v.toFixed(0)}</text>`);
      }
      sites.forEach((s) => g.push(`<text x="${x(s)}" y="${H - 14}" fill="#8b949e" font-size="9" text-anchor="middle">${esc(s.replace(nerve + "_", "").replace(/_/g, " "))}</text>`));
      const ulns = sites.map((s) => rows.find((r) => r.site === s && r.uln !== null)).filter(Boolean);
      if (ulns.length) {
        g.push(`<polyline fill="none" stroke="#ff7b72" stroke-dasharray="4 3" points="${ulns.map((r) => `${x(r.site)},${y(r.uln)}`).join(" ")}"/>`);
        ulns.forEach((r) => g.push(`<line x1="${x(r.site) - 9}" x2="${x(r.site) + 9}" y1="${y(r.uln)}" y2="${y(r.uln)}" stroke="#ff7b72" stroke-width="2"><title>ULN ${fmt(r.uln, 1)} mm² (${esc(r.source)})</title></line>`));
      }
      for (const side of ["right", "left"]) {
        const pts = rows.filter((r) => r.side === side).sort((a, b) => a.order - b.order);
        if (!pts.length) continue;
        g.push(`<polyline fill="none" stroke="${sideColor[side]}" stroke-width="1.5" points="${pts.map((r) => `${x(r.site)},${y(r.csa)}`).join(" ")}"/>`);
        pts.forEach((r) => g.push(`<circle cx="${x(r.site)}" cy="${y(r.csa)}" r="4" fill="${r.status === "enlarged" || r.criterion ? "#ff7b72" : sideColor[side]}" stroke="${sideColor[side]}" stroke-width="2"><title>${esc(r.site)}${r.trunk ? ` ${esc(r.trunk)} trunk` : ""} ${side}: ${fmt(r.csa, 1)} mm² (${esc(r.criterion || r.status)}${r.borderline ? ", borderline" : ""})</title></circle>`));
      }
      const legend = ["right", "left"].filter((s) => rows.some((r) => r.side === s)).map((s, i) => `<text x="${W - R - 90 + i * 45}" y="${H - 2}" fill="${sideColor[s]}" font-size="10">● ${s}</text>`);
      out.push(`<svg data-testid="nerve-chart" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="CSA profile of the ${esc(nerve)} nerve">${g.join("")}${legend.join("")}</svg>`);
    }
    return out.join("");
  }

  // [B] sources: citation_short carries "[B: caveat]" (sonomsk.reference.loader.citation_short)
  const isB = (cit) => /\[B[:\]]/.test(cit || "");
  function verdictOf(abnormal) { return abnormal === true ? "abnormal" : abnormal === false ? "normal" : "information only"; }
  function indicesHtml(a) {
    // entrapment indices and side-to-side comparison, as the report's table has them
    // (sonomsk.report.sections._index_row): value, cut-off or "information only", verdict, source
    const list = [...(a.entrapment_indices || []), ...(a.side_to_side || [])];
    if (!list.length) return "";
    const rows = list.map((r) => {
      const b = isB(r.citation_short);
      const unit = r.unit === "mm2" ? " mm²" : "";
      const cut = r.cutoff !== null && r.cutoff !== undefined ? `${esc(r.comparison || "")} ${esc(r.cutoff)}${unit}` : "information only";
      let verdict;
      if (r.value === null || r.value === undefined) {
        const why = r.reason || ((r.missing_sites || []).length ? `needs ${r.missing_sites.join(", ")}` : "not computed");
        verdict = `<span class="muted" data-testid="nerve-index-missing">not computed: ${esc(why)}</span>`;
      } else {
        const v = r.cutoff === null || r.cutoff === undefined ? "information only" : verdictOf(r.abnormal);
        verdict = `<span class="${v === "abnormal" ? "flag-enlarged" : v === "normal" ? "flag-normal" : "muted"}">${esc(v)}</span>`;
      }
      // an index with a cut-off that never decides alone says so (a [B] source: its caveat says why)
      const alone = r.decides_alone === false && r.cutoff !== null && r.cutoff !== undefined
        ? `<div class="small muted" data-testid="nerve-index-not-alone" title="${esc(r.why_not_alone || "")}">never decisive alone${!b && r.why_not_alone ? `: ${esc(r.why_not_alone)}` : ""}</div>` : "";
      // an index's own caveat (e.g. the pisiform/Guyon ratio's accuracy) travels with it, as in the report
      const source = (r.citation_short || r.source || r.healthy || "") + (r.caveat ? ` (${r.caveat})` : "");
      const healthy = r.citation_short && r.healthy ? `<div class="small muted">${esc(r.healthy)}</div>` : "";
      return `<tr data-testid="nerve-index" data-index="${esc(r.name)}" data-side="${esc(r.side)}"${b ? ' class="evidence-b"' : ""}>
        <td>${esc(r.label || r.name)}${healthy}</td><td>${esc(r.side)}</td>
        <td data-testid="nerve-index-value">${r.value === null || r.value === undefined ? "–" : fmt(r.value, 2) + unit}</td>
        <td data-testid="nerve-index-cutoff">${cut}</td>
        <td data-testid="nerve-index-verdict">${verdict}${alone}</td>
        <td class="small" data-testid="nerve-index-source">${b ? '<b class="evidence-b-mark" data-testid="nerve-index-b" title="[B] source: shown with its caveat, never decisive alone">[B]</b> ' : ""}${esc(source)}</td></tr>`;
    });
    return `<h4>Entrapment indices and side-to-side comparison</h4>
      <table data-testid="nerve-indices"><tr><th>index</th><th>side</th><th>value</th><th>cut-off</th><th>verdict</th><th>source</th></tr>${rows.join("")}</table>`;
  }
  function variabilityHtml(a) {
    // intranerve and internerve variability (Padua 2012), each with its healthy limit when used as one
    const v = a.variability;
    if (!v) return "";
    const items = (v.intranerve || []).map((i) => ({ what: `intranerve ${i.nerve} ${i.side}${i.level ? ` (${i.level})` : ""}`, ...i }));
    if (v.internerve) items.push({ what: `internerve (${v.internerve.max} / ${v.internerve.min})`, ...v.internerve });
    const rows = items.map((i) => {
      const cut = i.uln !== null && i.uln !== undefined ? `> ${i.uln}` : "information only";
      const verdict = i.uln !== null && i.uln !== undefined ? (i.high ? "abnormal" : "normal") : "information only";
      const cites = [...new Set((i.explanation || "").match(/\[[^\]]+\]/g) || [])].join(" ");
      return `<tr data-testid="nerve-variability-row"><td>${esc(i.what)}<div class="small muted">${esc(i.explanation || "")}</div></td>
        <td data-testid="nerve-variability-value">${fmt(i.value, 2)}</td><td>${esc(cut)}</td>
        <td class="${verdict === "abnormal" ? "flag-enlarged" : verdict === "normal" ? "flag-normal" : "muted"}">${esc(verdict)}</td><td class="small">${esc(cites)}</td></tr>`;
    });
    const notCompared = (v.not_compared || []).map((n) => `<li>${esc(n.explanation)}</li>`);
    if (!rows.length && !notCompared.length) return "";
    return `<div data-testid="nerve-variability"><h4>Variability</h4>
      ${rows.length ? `<table><tr><th>variability</th><th>value</th><th>cut-off</th><th>verdict</th><th>source</th></tr>${rows.join("")}</table>` : ""}
      ${notCompared.length ? `<ul class="small muted">${notCompared.join("")}</ul>` : ""}</div>`;
  }

  function renderResult(S) {
    const box = root && root.querySelector("#nerve-result");
    if (!box) return;  // another workflow's panel replaced this one while an answer was on its way
    const r = lastAssessment;
    if (!r) { box.innerHTML = ""; return; }
    const a = r.assessment;
    const rows = r.profile.map((p) => `<tr><td>${esc(p.site.replace(/_/g, " "))}${p.trunk ? ` (${esc(p.trunk)} trunk)` : ""}${p.level ? ` <span class="small muted">${esc(p.level.replace(/_/g, " "))}</span>` : ""}</td><td>${esc(p.side)}</td><td>${fmt(p.csa, 1)}</td><td>${fmt(p.uln, 1)}</td>
      <td class="flag-${esc(p.criterion ? "enlarged" : p.status)}">${esc(p.status.replace(/_/g, " "))}${p.borderline ? ' <span data-testid="nerve-borderline" title="within the between-investigator SD of the limit: a second measurement may fall on the other side">(borderline)</span>' : ""}${p.criterion ? `<div class="small" data-testid="nerve-criterion">${esc(p.criterion)}</div>` : ""}</td><td class="small">${esc(p.source || "")}${p.evidence ? ` [${esc(p.evidence)}]` : ""}</td></tr>`);
    const caveats = [...new Set(r.profile.filter((p) => p.caveat).map((p) => `[${p.evidence}] ${p.source}: ${p.caveat}`))];
    const noteSites = new Map();  // each note once, with the sites it belongs to
    for (const p of r.profile) for (const n of (p.notes || [])) {
      const where = `${p.site.replace(/_/g, " ")} ${p.side}`;
      if (!noteSites.has(n)) noteSites.set(n, []);
      if (!noteSites.get(n).includes(where)) noteSites.get(n).push(where);
    }
    const notes = [...noteSites].map(([n, w]) => `<li>${esc(w.join(", "))}: ${esc(n)}</li>`);
    const excluded = (r.images || []).filter((i) => !i.usable && i.site).map((i) => `${esc(i.label)}: ${esc(i.reason)}`);
    const d = r.differential;
    const cands = (d.candidates || []).slice(0, 5).map((c) => `<li><b>${esc(c.name)}</b> <span class="small muted">relative weight ${fmt(c.relative_weight)} (not a probability)</span>
      <div class="small">for: ${esc(c.supporting.map((x) => x.statement || x.finding).join("; ") || "–")}</div>
      ${c.against.length ? `<div class="small muted">against: ${esc(c.against.map((x) => x.statement || x.finding).join("; "))}</div>` : ""}</li>`);
    const stale = r.stale ? `<div data-testid="nerve-stale" class="flag-enlarged" style="margin-bottom:6px"><b>Out of date:</b> ${esc(r.stale_reasons.join("; "))}. Assess again before reporting, or <button data-testid="nerve-withdraw" id="nerve-withdraw" title="The study is reported without a nerve assessment; this one stays on record">withdraw it</button>.</div>` : "";
    box.innerHTML = `${stale}<div data-testid="nerve-pattern"><b>Pattern:</b> ${esc(a.pattern.replace(/_/g, " "))}</div>
      <p class="small">${esc(a.explanation)}</p>
      ${a.deciding_sites && a.deciding_sites.length ? `<p class="small muted" data-testid="nerve-deciding-sites">Sites that would decide: ${esc((a.deciding_sites_detail && a.deciding_sites_detail.length ? a.deciding_sites_detail : a.deciding_sites).join(", "))}</p>` : ""}
      ${a.deciding_other_side && a.deciding_other_side.length ? `<p class="small muted" data-testid="nerve-deciding-other-side">On the side not measured, these would decide: ${esc(a.deciding_other_side.join(", "))}</p>` : ""}
      ${chartSvg(r.profile)}
      <table><tr><th>site</th><th>side</th><th>CSA mm²</th><th>ULN</th><th>status</th><th>source</th></tr>${rows.join("")}</table>
      ${caveats.length ? `<p class="small muted">Caveats: ${caveats.map(esc).join(" · ")}</p>` : ""}
      ${indicesHtml(a)}
      ${variabilityHtml(a)}
      ${notes.length ? `<details data-testid="nerve-notes" class="small" open><summary>Notes on the limits and measurements (${notes.length})</summary><ul>${notes.join("")}</ul></details>` : ""}
      ${excluded.length ? `<p class="small muted">Not assessed: ${excluded.join(" · ")}</p>` : ""}
      <h4>Differential (decision support, not a diagnosis)</h4>
      <p class="small">${esc(d.message)}</p>
      <ol data-testid="nerve-differential">${cands.join("")}</ol>
      ${(d.notes || []).length ? `<details data-testid="nerve-differential-notes" class="small"><summary>How the findings were read (${d.notes.length} notes)</summary><ul>${d.notes.map((n) => `<li>${esc(n)}</li>`).join("")}</ul></details>` : ""}
      <p class="small muted">${esc(d.intended_use)}</p>`;
    const withdraw = box.querySelector("#nerve-withdraw");
    if (withdraw) withdraw.onclick = async () => {
      if (!window.confirm("Withdraw this nerve assessment? Reports made from now on leave it out; it stays on record.")) return;
      // names the assessment shown: one assessed since (another tab, a colleague) is not withdrawn
      const w = await S.api(`${API}/studies/${S.state.study.id}/assessment?analysis_id=${encodeURIComponent(r.analysis_id)}`, { method: "DELETE" });
      // not one that arrived meanwhile (by id: a refresh may have replaced the object)
      if (lastAssessment && lastAssessment.analysis_id === r.analysis_id) lastAssessment = null;
      S.setStatus(`nerve assessment ${w.withdrawn} withdrawn`);
      renderResult(S);
    };
  }

  // ------------------------------------------------------------------ events
  function active(S) { return root && root.isConnected && S.state.currentWorkflow === "nerve"; }
  async function refreshAssessment(S) {
    // outlines, sites or sides may have changed: ask whether the shown assessment still holds
    const sid = S.state.study && S.state.study.id;
    if (!lastAssessment || !sid || sid !== assessedStudy) return;
    // called on the "study" event, so S.state.study is fresh: no assessment_id means it was
    // withdrawn since (another tab, a colleague), and the page must stop showing it
    if (S.state.study.assessment_id == null) { lastAssessment = null; renderResult(S); return; }
    const before = lastAssessment;
    try {
      const r = await fetch(`${API}/studies/${sid}/assessment`);
      const a = r.ok ? await r.json() : null;
      // another study opened while the answer was on its way: it is not this one's
      if (!S.state.study || S.state.study.id !== sid || assessedStudy !== sid) return;
      // an assessment made (or withdrawn) meanwhile is newer than this answer
      if (lastAssessment !== before) return;
      if (a) lastAssessment = a;
    } catch (e) { return; }
    renderResult(S);
  }
  function refresh(S) { if (!active(S)) return; renderImages(S); renderCurrent(S); refreshAssessment(S); }

  function bindOnce(S) {
    if (bindOnce.done) return;
    bindOnce.done = true;
    S.on("study", (st) => {
      if (root && st && st.id !== assessedStudy && active(S)) { S.state.workflows.nerve.render(root, S); return; }
      refresh(S);
    });
    S.on("instance", () => { if (active(S)) renderCurrent(S); });
    // a change made in another tab or by a colleague (a correction, a re-assessment, a
    // withdrawal) shows as soon as this tab is looked at again, not only after a reload
    // (a window left visible beside another one catches up when it gets the focus again)
    let lastLook = 0;
    const lookedAt = () => {
      if (Date.now() - lastLook < 2000) return;  // one reload for a focus and a visibility change together
      lastLook = Date.now();
      if (S.state.study && active(S)) S.reloadStudy();
    };
    document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") lookedAt(); });
    window.addEventListener("focus", lookedAt);
    // a cine: re-render only when the shown outline comes onto or leaves the frame shown (not every frame of a playback)
    S.on("frame", (pane) => {
      if (!active(S) || pane !== S.activePane() || !pane.inst || pane.inst.frames < 2) return;
      const a = shownOutline(S, pane.inst.id);
      const key = `${pane.inst.id}:${a ? a.id : ""}:${!!(a && a.structures.length && a.structures[0].frame === pane.frame)}`;
      if (key !== shownFrameKey) renderCurrent(S);
    });
    // an outline is stored with its image whenever it answers; the tool turns to Edit only while
    // that image is still the one shown in its pane (another study or image opened meanwhile
    // keeps its own tool), and the status says where the outline went
    async function outline(S, pane, url, body, asking) {
      const image = pane.inst.id;
      const owner = pane.study ? pane.study.id : S.state.study && S.state.study.id;
      const label = [pane.inst.site, pane.inst.side, pane.inst.label].filter(Boolean).join(" ");
      S.setStatus(asking);
      try {
        await S.api(url, { json: body });
      } catch (e) { return; /* status shows the error */ }
      const ownerNow = pane.study ? pane.study.id : S.state.study && S.state.study.id;
      if (!pane.inst || pane.inst.id !== image || ownerNow !== owner) {
        S.setStatus(`outline stored with image ${image} (${label}) of study ${owner}, which is no longer shown`);
        return;
      }
      S.setStatus("outlined: drag points with Edit outline to correct");
      document.querySelector('#toolbar [data-tool="edit"]').click();
      try { await S.reloadStudy(); } catch (e) { /* status shows the error */ }
    }
    S.on("click", ({ pane, row, col, tool }) => {
      if (tool !== "nerve-outline" || !pane.inst) return;
      outline(S, pane, `${API}/instances/${pane.inst.id}/outline`, { row, col, frame: pane.frame }, "outlining…");
    });
    S.on("box", ({ pane, top, left, bottom, right, tool }) => {
      if (tool !== "nerve-outline" || !pane.inst) return;
      outline(S, pane, `${API}/instances/${pane.inst.id}/outline-box`, { top, left, bottom, right, frame: pane.frame },
        "outlining the nerve in the box…");
    });
    S.on("structure-edited", async ({ structure, points }) => {
      const before = structure.corrected_points || structure.auto_points || [];
      if (JSON.stringify(before) === JSON.stringify(points)) return; // a click without a move
      S.setStatus("recomputing from the corrected outline…");
      try {
        await S.api(`${API}/structures/${structure.id}/points`, { method: "PUT", json: { points } });
        S.setStatus("corrected outline stored; measures recomputed");
      } catch (e) { /* status shows the error */ }
      await S.reloadStudy();
    });
  }

  SONO.registerWorkflow("nerve", {
    async render(body, S) {
      root = body;
      bindOnce(S);
      body.innerHTML = `<div class="card"><h4>Images: site and side</h4><div id="nerve-images"></div></div>
        <div class="card"><h4>Current image</h4><div id="nerve-current"></div></div>
        <div class="card"><h4>Assessment</h4><div id="nerve-assess"></div><div id="nerve-result"></div></div>`;
      if (!vocab) vocab = await S.api(`${API}/sites`);
      renderImages(S);
      renderCurrent(S);
      renderAssessForm(S);
      const sid = S.state.study && S.state.study.id;
      if (sid !== assessedStudy) {
        lastAssessment = null;
        assessedStudy = sid;
        if (sid && S.state.study.assessment_id != null) {  // none yet: nothing to ask (no 404)
          try {
            const r = await fetch(`${API}/studies/${sid}/assessment`);
            const a = r.ok ? await r.json() : null;
            if (a && assessedStudy === sid) lastAssessment = a;  // not for a study opened since
          } catch (e) { /* none yet */ }
        }
      }
      renderResult(S);
    },
  });
})();
