/* sonomsk workstation viewer: plain JavaScript, one canvas per pane, no external network.
 * Image coordinates are (row, col) pixels of the stored image; structures use [row, col] points.
 * Workflow panels (static/workflows/<name>.js) register through SONO.registerWorkflow. */
"use strict";
(function () {
  const $ = (sel) => document.querySelector(sel);
  const listeners = {};
  const SONO = {
    state: { studies: [], study: null, tool: "pan", panes: [], active: 0, workflows: {}, workflowMeta: [] },
    on(evt, fn) { (listeners[evt] = listeners[evt] || []).push(fn); },
    emit(evt, data) { (listeners[evt] || []).forEach((fn) => fn(data)); },
    async api(path, opts = {}) {
      const init = Object.assign({ headers: {} }, opts);
      if (opts.json !== undefined) {
        init.method = init.method || "POST";
        init.headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(opts.json);
      }
      const r = await fetch(path, init);
      const type = r.headers.get("content-type") || "";
      const body = type.includes("json") ? await r.json() : await r.text();
      if (!r.ok) {
        if (r.status === 401 && window.location.pathname !== "/login") window.location.assign("/login");
        const msg = (body && body.detail) || r.statusText;
        SONO.setStatus(`${r.status}: ${msg}`, true);
        const err = new Error(msg);
        err.shownToUser = true;  // the status bar says it; not an error of the page itself
        throw err;
      }
      return body;
    },
    setStatus(text, isError = false) {
      const el = $("#status");
      el.textContent = text;
      el.className = "status" + (isError ? " error" : "");
    },
    registerWorkflow(name, def) { SONO.state.workflows[name] = def; renderTabs(); },
  };
  window.SONO = SONO;
  // a refused request (4xx/5xx) is shown in the status bar by SONO.api and ends the action that
  // made it: it is not an uncaught error of the page
  window.addEventListener("unhandledrejection", (e) => { if (e.reason && e.reason.shownToUser) e.preventDefault(); });

  // ---------------------------------------------------------------- calibration helpers
  function regionAt(inst, row, col) {
    if (!inst) return null;
    for (const r of inst.regions || []) {
      const [r0, c0, r1, c1] = r.box;
      if (row >= r0 && row < r1 && col >= c0 && col < c1 && r.spacing_mm) return r;
    }
    return null;
  }
  function spacingFor(inst, points) {
    let sp = null;
    for (const [row, col] of points) {
      const r = regionAt(inst, row, col);
      if (!r) return null;
      if (sp && (sp[0] !== r.spacing_mm[0] || sp[1] !== r.spacing_mm[1])) return null;
      sp = r.spacing_mm;
    }
    return sp;
  }
  function polygonArea(points) {
    let a = 0;
    for (let i = 0; i < points.length; i++) {
      const [r1, c1] = points[i];
      const [r2, c2] = points[(i + 1) % points.length];
      a += c1 * r2 - c2 * r1;
    }
    return Math.abs(a) / 2;
  }
  SONO.measureDistance = function (inst, p, q) {
    const sp = spacingFor(inst, [p, q]);
    const dr = q[0] - p[0], dc = q[1] - p[1];
    if (!sp) return { value: Math.hypot(dr, dc), unit: "px" };
    return { value: Math.hypot(dr * sp[0], dc * sp[1]), unit: "mm" };
  };
  SONO.measureArea = function (inst, pts) {
    const sp = spacingFor(inst, pts);
    const a = polygonArea(pts);
    if (!sp) return { value: a, unit: "px2" };
    return { value: a * sp[0] * sp[1], unit: "mm2" };
  };

  // ---------------------------------------------------------------- panes
  function makePane(index) {
    const el = document.querySelector(`.pane[data-pane="${index}"]`);
    const canvas = el.querySelector("canvas");
    const pane = {
      index, el, canvas, ctx: canvas.getContext("2d"), inst: null, frame: 0, frames: new Map(),
      scale: 1, offX: 0, offY: 0, wc: 128, ww: 256, processed: null, calipers: [], draft: null, drag: null,
      generation: 0, // counts what the pane was given to show (a late comparison checks it)
    };
    el.addEventListener("mousedown", () => setActive(index));
    bindMouse(pane);
    return pane;
  }
  function setActive(i) {
    SONO.state.active = i;
    SONO.state.panes.forEach((p) => p.el.classList.toggle("active-pane", p.index === i && SONO.state.panes[1].el.offsetParent !== null));
  }
  SONO.activePane = () => SONO.state.panes[SONO.state.active];

  function fitView(pane) {
    if (!pane.inst) return;
    const w = pane.canvas.clientWidth, h = pane.canvas.clientHeight;
    pane.scale = Math.min(w / pane.inst.columns, h / pane.inst.rows);
    pane.offX = (w - pane.inst.columns * pane.scale) / 2;
    pane.offY = (h - pane.inst.rows * pane.scale) / 2;
  }
  function loadFrame(pane, frame) {
    const key = `${pane.inst.id}:${frame}`;
    if (pane.frames.has(key)) return Promise.resolve(pane.frames.get(key));
    return new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => { pane.frames.set(key, img); resolve(img); };
      img.onerror = () => reject(new Error("frame could not be loaded"));
      img.src = `/api/instances/${pane.inst.id}/frames/${frame}.png`;
    });
  }
  async function showFrame(pane, frame) {
    const inst = pane.inst;
    if (!inst) return;
    pane.frame = Math.max(0, Math.min(frame, inst.frames - 1));
    const want = pane.frame;
    const img = await loadFrame(pane, want);
    // the pane was cleared, or shows another image or frame, while this frame loaded: it is stale
    // (ids, not objects: a study reload replaces the image's object, not the image)
    if (!pane.inst || pane.inst.id !== inst.id || pane.frame !== want) return;
    applyWindow(pane, img);
    if (pane.index === SONO.state.active) {
      $("#frame-slider").max = pane.inst.frames - 1;
      $("#frame-slider").value = pane.frame;
      $("#frame-label").textContent = `frame ${pane.frame + 1}/${pane.inst.frames}`;
    }
    draw(pane);
    SONO.emit("frame", pane);
  }
  function applyWindow(pane, img) {
    const off = document.createElement("canvas");
    off.width = img.naturalWidth; off.height = img.naturalHeight;
    const octx = off.getContext("2d");
    octx.drawImage(img, 0, 0);
    if (!(pane.wc === 128 && pane.ww === 256)) {
      const data = octx.getImageData(0, 0, off.width, off.height);
      const lo = pane.wc - pane.ww / 2, k = 255 / Math.max(1, pane.ww);
      const lut = new Uint8ClampedArray(256);
      for (let v = 0; v < 256; v++) lut[v] = (v - lo) * k;
      const d = data.data;
      for (let i = 0; i < d.length; i += 4) { d[i] = lut[d[i]]; d[i + 1] = lut[d[i + 1]]; d[i + 2] = lut[d[i + 2]]; }
      octx.putImageData(data, 0, 0);
    }
    pane.processed = off;
  }
  const toScreen = (pane, row, col) => [col * pane.scale + pane.offX, row * pane.scale + pane.offY];
  const toImage = (pane, x, y) => [(y - pane.offY) / pane.scale, (x - pane.offX) / pane.scale];
  // Stored outline vertices are in pixel-centre coordinates (pixel r covers r-0.5..r+0.5:
  // sonomsk.vision.contours), while the canvas, clicks and boxes use pixel r = [r, r+1): half a
  // pixel converts one into the other, so a vertex is drawn, picked and sent where it is.
  const centreToScreen = (pane, row, col) => toScreen(pane, row + 0.5, col + 0.5);
  const screenToCentre = (pane, x, y) => { const [r, c] = toImage(pane, x, y); return [r - 0.5, c - 0.5]; };
  const centredPoints = (pts) => pts.map(([r, c]) => [r + 0.5, c + 0.5]);

  SONO.showFrame = (pane, frame) => showFrame(pane, frame);
  SONO.structuresFor = function (pane) {
    const study = pane.study || SONO.state.study;
    if (!study || !pane.inst) return [];
    const out = [];
    for (const a of study.analyses || []) {
      if (a.instance_id !== pane.inst.id) continue;
      for (const s of a.structures || []) if (s.frame === pane.frame || pane.inst.frames === 1) out.push(s);
    }
    return out;
  };
  // screen px a press must move to draw a box (workflow tools) or to move an outline point
  // (Edit outline): less is a click, and a click never stores a correction
  const PROMPT_DRAG_PX = 5;
  const COLORS = { nerve: "#ffd33d", vessel: "#ff7b72", muscle: "#7ee787", aponeurosis: "#79c0ff", needle: "#d2a8ff", spread: "#56d4dd" };

  function draw(pane) {
    const { canvas, ctx } = pane;
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (canvas.width !== w * dpr || canvas.height !== h * dpr) { canvas.width = w * dpr; canvas.height = h * dpr; }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = "#000"; ctx.fillRect(0, 0, w, h);
    if (!pane.inst || !pane.processed) return;
    ctx.imageSmoothingEnabled = pane.scale < 2;
    ctx.drawImage(pane.processed, pane.offX, pane.offY, pane.inst.columns * pane.scale, pane.inst.rows * pane.scale);
    // thicker: the outline being dragged, or the one a workflow panel shows (SONO.state.focusStructure)
    for (const s of SONO.structuresFor(pane)) drawPolygon(pane, centredPoints(s.points), COLORS[s.kind] || "#fff", true, s.corrected_points ? [6, 3] : null, s.id === (pane.drag && pane.drag.sid) || s.id === SONO.state.focusStructure);
    for (const c of pane.calipers) drawCaliper(pane, c);
    if (pane.draft) drawCaliper(pane, pane.draft, true);
    if (pane.drag && pane.drag.box) {
      const [[r0, c0], [r1, c1]] = pane.drag.box;
      drawPolygon(pane, [[r0, c0], [r0, c1], [r1, c1], [r1, c0]], "#79c0ff", true, [4, 3], false);
    }
    drawScale(pane);
  }
  function drawPolygon(pane, pts, color, closed, dash, highlight) {
    if (!pts || pts.length < 2) return;
    const { ctx } = pane;
    ctx.save();
    ctx.strokeStyle = color; ctx.lineWidth = highlight ? 2.5 : 1.5;
    if (dash) ctx.setLineDash(dash);
    ctx.beginPath();
    pts.forEach(([r, c], i) => { const [x, y] = toScreen(pane, r, c); if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
    if (closed) ctx.closePath();
    ctx.stroke();
    if (SONO.state.tool === "edit") {
      ctx.fillStyle = color;
      for (const [r, c] of pts) { const [x, y] = toScreen(pane, r, c); ctx.fillRect(x - 2.5, y - 2.5, 5, 5); }
    }
    ctx.restore();
  }
  function drawCaliper(pane, c, draft) {
    const { ctx } = pane;
    const color = draft ? "#79c0ff" : "#58a6ff";
    drawPolygon(pane, c.points, color, c.type === "area" && !draft, null, false);
    for (const [r, col] of c.points) { const [x, y] = toScreen(pane, r, col); ctx.fillStyle = color; ctx.fillRect(x - 3, y - 3, 6, 6); }
    if (!draft && c.result) {
      const [r, col] = c.points[c.points.length - 1];
      const [x, y] = toScreen(pane, r, col);
      ctx.fillStyle = "#fff"; ctx.font = "12px system-ui";
      ctx.fillText(`${c.result.value.toFixed(2)} ${c.result.unit}`, x + 6, y - 6);
    }
  }
  function drawScale(pane) {
    const { ctx, inst } = pane;
    const tissue = (inst.regions || []).find((r) => r.kind === "tissue" && r.spacing_mm);
    const h = pane.canvas.clientHeight, w = pane.canvas.clientWidth;
    ctx.fillStyle = "#fff"; ctx.font = "12px system-ui";
    if (!tissue) { ctx.fillText("uncalibrated: measurements in px", 8, h - 10); return; }
    const mmPerPx = tissue.spacing_mm[1];
    const candidates = [1, 2, 5, 10, 20, 50];
    let mm = candidates[0];
    for (const c of candidates) if ((c / mmPerPx) * pane.scale <= w / 4) mm = c;
    const len = (mm / mmPerPx) * pane.scale;
    ctx.fillRect(w - 16 - len, h - 16, len, 3);
    ctx.fillText(`${mm} mm`, w - 16 - len, h - 22);
  }

  // ---------------------------------------------------------------- mouse tools
  function nearestVertex(pane, x, y) {
    // the outline a panel shows (drawn thick) is edited first: outlines on top of each other
    // must not move a hidden one
    const all = SONO.structuresFor(pane);
    const focus = all.filter((s) => s.id === SONO.state.focusStructure);
    return nearestIn(pane, focus, x, y) || nearestIn(pane, all, x, y);
  }
  function nearestIn(pane, structures, x, y) {
    let best = null;
    for (const s of structures) {
      s.points.forEach(([r, c], i) => {
        const [sx, sy] = centreToScreen(pane, r, c);
        const d = Math.hypot(sx - x, sy - y);
        if (d < 10 && (!best || d < best.d)) best = { d, s, i };
      });
    }
    return best;
  }
  function bindMouse(pane) {
    const c = pane.canvas;
    const pos = (e) => { const b = c.getBoundingClientRect(); return [e.clientX - b.left, e.clientY - b.top]; };
    c.addEventListener("wheel", (e) => {
      e.preventDefault();
      const [x, y] = pos(e);
      zoomAt(pane, e.deltaY < 0 ? 1.15 : 1 / 1.15, x, y);
    }, { passive: false });
    c.addEventListener("mousedown", (e) => {
      if (!pane.inst) return;
      const [x, y] = pos(e);
      const tool = SONO.state.tool;
      const pt = toImage(pane, x, y);
      if (tool === "pan" || tool === "window") pane.drag = { tool, x, y, offX: pane.offX, offY: pane.offY, wc: pane.wc, ww: pane.ww };
      else if (tool === "edit") {
        const hit = nearestVertex(pane, x, y);
        if (hit) {
          const base = hit.s.points.map((p) => p.slice());
          pane.drag = { tool, x, y, sid: hit.s.id, i: hit.i, points: base, structure: hit.s, orig: hit.s.points, moved: false };
        }
      } else if (tool === "distance") {
        if (!pane.draft) pane.draft = { type: "distance", points: [pt] };
        else { pane.draft.points.push(pt); finishCaliper(pane); }
      } else if (tool === "area") {
        if (!pane.draft) pane.draft = { type: "area", points: [pt] };
        else pane.draft.points.push(pt);
      } else if (e.button === 0) pane.drag = { tool: "prompt", x, y, pt, wfTool: tool }; // a workflow tool: click or box
      draw(pane);
    });
    c.addEventListener("dblclick", () => { if (pane.draft && pane.draft.type === "area" && pane.draft.points.length >= 3) finishCaliper(pane); });
    window.addEventListener("mousemove", (e) => {
      const d = pane.drag;
      if (!d) return;
      const [x, y] = pos(e);
      if (d.tool === "pan") { pane.offX = d.offX + x - d.x; pane.offY = d.offY + y - d.y; draw(pane); }
      else if (d.tool === "window") {
        pane.ww = Math.max(8, d.ww + (x - d.x)); pane.wc = d.wc + (y - d.y);
        const img = pane.frames.get(`${pane.inst.id}:${pane.frame}`);
        if (img) applyWindow(pane, img);
        draw(pane);
      } else if (d.tool === "edit") {
        // the point follows only beyond the click threshold: a hand's jitter moves nothing
        d.moved = Math.hypot(x - d.x, y - d.y) > PROMPT_DRAG_PX;
        d.points[d.i] = d.moved ? screenToCentre(pane, x, y) : d.orig[d.i].slice();
        d.structure.points = d.moved ? d.points : d.orig;
        draw(pane);
      } else if (d.tool === "prompt") {
        // a drag of more than a few screen px draws a box; less stays a click
        d.box = Math.hypot(x - d.x, y - d.y) > PROMPT_DRAG_PX ? [d.pt, toImage(pane, x, y)] : null;
        draw(pane);
      }
    });
    window.addEventListener("keydown", (e) => {
      // Escape drops a box being drawn
      if (e.key === "Escape" && pane.drag && pane.drag.tool === "prompt") { pane.drag = null; draw(pane); }
    });
    window.addEventListener("mouseup", () => {
      const d = pane.drag;
      pane.drag = null;
      if (d && d.tool === "edit") {
        if (d.moved) SONO.emit("structure-edited", { pane, structure: d.structure, points: d.points });
        else { d.structure.points = d.orig; draw(pane); }  // a click on a point: no correction
      }
      if (d && d.tool === "prompt") {
        if (d.box) {
          const [[r0, c0], [r1, c1]] = d.box;
          SONO.emit("box", { pane, top: Math.min(r0, r1), left: Math.min(c0, c1), bottom: Math.max(r0, r1), right: Math.max(c0, c1), tool: d.wfTool });
        } else SONO.emit("click", { pane, row: d.pt[0], col: d.pt[1], tool: d.wfTool });
        draw(pane);
      }
    });
  }
  function finishCaliper(pane) {
    const c = pane.draft;
    pane.draft = null;
    c.result = c.type === "distance" ? SONO.measureDistance(pane.inst, c.points[0], c.points[1]) : SONO.measureArea(pane.inst, c.points);
    pane.calipers.push(c);
    renderMeasures();
    draw(pane);
  }
  function zoomAt(pane, f, x, y) {
    pane.offX = x - (x - pane.offX) * f; pane.offY = y - (y - pane.offY) * f; pane.scale *= f; draw(pane);
  }

  // ---------------------------------------------------------------- measurements table
  function renderMeasures() {
    const rows = [];
    // only numbers and fixed words of this page (caliper type, unit) go into this HTML
    SONO.state.panes.forEach((p) => p.calipers.forEach((c, i) => rows.push(
      `<tr><td>pane ${p.index + 1}</td><td>${c.type === "area" ? "area" : "distance"} ${i + 1}</td><td data-testid="caliper-value">${Number(c.result.value).toFixed(2)}</td><td>${{ mm: "mm", mm2: "mm2", px: "px", px2: "px2" }[c.result.unit] || ""}</td></tr>`)));
    $("#measures").innerHTML = rows.length ? `<table><tr><th>pane</th><th>caliper</th><th>value</th><th>unit</th></tr>${rows.join("")}</table>` : "";
  }

  // ---------------------------------------------------------------- studies
  // a list item or thumbnail a keyboard can reach: Tab to it, Enter or Space opens it
  function activatable(el, open) {
    el.tabIndex = 0;
    el.setAttribute("role", "button");
    el.addEventListener("click", open);
    el.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(); }
    });
  }
  // the latest request of each kind wins: an earlier answer arriving after a later one is dropped
  const latest = { studies: 0, study: 0, other: 0 };
  async function loadStudies() {
    const q = $("#search").value.trim();
    const asked = ++latest.studies;
    const studies = await SONO.api("/api/studies" + (q ? `?q=${encodeURIComponent(q)}` : ""));
    if (asked !== latest.studies) return;  // the search changed while this list was on its way
    SONO.state.studies = studies;
    const ul = $("#study-list");
    ul.innerHTML = "";
    for (const s of SONO.state.studies) {
      const li = document.createElement("li");
      li.dataset.studyId = s.id;
      li.textContent = `${s.patient_name || s.patient_key} - ${s.description || "study"} (${s.instances})`;
      activatable(li, () => SONO.showStudy(s.id));
      if (SONO.state.study && SONO.state.study.id === s.id) li.classList.add("selected");
      ul.appendChild(li);
    }
  }
  // the site and side (after a change in a workflow panel too) label thumbnails and panes
  // a plexus trunk and a root's or vagus's level tell two images of one site apart
  const placeOf = (inst) => [inst.site, inst.trunk && `${inst.trunk} trunk`, inst.level && String(inst.level).replace(/_/g, " "), inst.side].filter(Boolean);
  const thumbCaption = (inst) => placeOf(inst).join(" ") || inst.label || String(inst.id);
  function setPaneLabel(pane) {
    const el = pane.el.querySelector(".pane-label");
    if (!pane.inst) { el.textContent = ""; return; }
    const other = pane.study ? [`${pane.study.date || ""} (other study)`] : [];
    el.textContent = [...other, ...placeOf(pane.inst), pane.inst.label].filter(Boolean).join(" / ");
  }
  function renderThumbs() {
    const box = $("#instances");
    box.innerHTML = '<div class="thumbs"></div>';
    const thumbs = box.firstChild;
    const shown = SONO.activePane() && SONO.activePane().inst;
    for (const inst of SONO.state.study.series.flatMap((se) => se.instances)) {
      const d = document.createElement("div");
      d.className = "thumb"; d.dataset.instanceId = inst.id;
      if (shown && !SONO.activePane().study && shown.id === inst.id) d.classList.add("selected");
      // DOM nodes and textContent: labels and sites come from uploaded files (never innerHTML)
      const img = document.createElement("img");
      img.alt = `image ${Number(inst.id)}`;
      img.src = `/api/instances/${Number(inst.id)}/frames/0.png`;
      const caption = document.createElement("div");
      caption.dataset.testid = `thumb-caption-${Number(inst.id)}`;
      caption.textContent = thumbCaption(inst);
      d.append(img, caption);
      activatable(d, () => SONO.showInstance(inst.id));
      thumbs.appendChild(d);
    }
  }
  SONO.reloadStudy = async function () {
    if (!SONO.state.study) return;
    const id = SONO.state.study.id;
    const study = await SONO.api(`/api/studies/${id}`);
    if (!SONO.state.study || SONO.state.study.id !== id) return;  // another study opened meanwhile
    SONO.state.study = study;
    SONO.state.panes.forEach((p) => {
      if (!p.inst || p.study) return;  // a pane showing another study keeps it
      for (const se of SONO.state.study.series) for (const i of se.instances) if (i.id === p.inst.id) p.inst = i;
      setPaneLabel(p);
      draw(p);
    });
    renderThumbs();
    fillBaselineChoices();  // a study of this patient stored since (an upload, another tab)
    SONO.emit("study", SONO.state.study);
    await reloadOtherStudy();
  };
  // the study beside (pane 2) again: an outline drawn or corrected on its image shows there
  async function reloadOtherStudy() {
    const pane = SONO.state.panes[1];
    if (!pane.study || !pane.inst) return;
    const shown = pane.generation, id = pane.study.id, image = pane.inst.id;
    let other;
    try { other = await SONO.api(`/api/studies/${id}`); } catch (e) { return; /* status shows the error */ }
    if (pane.generation !== shown) return;  // the pane shows something else now
    const inst = other.series.flatMap((se) => se.instances).find((i) => i.id === image);
    if (!inst) return;
    pane.study = other; pane.inst = inst;
    setPaneLabel(pane);
    draw(pane);
  }
  // pane 2 emptied and hidden: it showed an image of a study that is no longer open
  function closeSecondPane() {
    latest.other++;  // a comparison still on its way is not shown either
    const pane = SONO.state.panes[1];
    pane.generation += 1;
    pane.inst = null; pane.study = null; pane.calipers = []; pane.draft = null;
    showBaselineChoice();
    setPaneLabel(pane);
    draw(pane);
    $("#compare").checked = false;
    pane.el.classList.add("hidden");
    setActive(0);
    SONO.state.panes.forEach((p) => fitView(p));
  }
  SONO.showStudy = async function (id) {
    const asked = ++latest.study;
    const study = await SONO.api(`/api/studies/${id}`);
    if (asked !== latest.study) return;  // another study was chosen while this one was on its way
    const changed = !SONO.state.study || SONO.state.study.id !== id;
    SONO.state.study = study;
    if (changed && SONO.state.panes[1].inst) closeSecondPane();
    fillBaselineChoices();  // now, not after the first image: the last study's choices must go
    document.querySelectorAll("#study-list li").forEach((li) => li.classList.toggle("selected", Number(li.dataset.studyId) === id));
    renderThumbs();
    const all = SONO.state.study.series.flatMap((se) => se.instances);
    if (all.length) await SONO.showInstance(all[0].id, 0);
    if (asked !== latest.study) return;  // overtaken while its first image loaded
    SONO.emit("study", SONO.state.study);
  };
  SONO.findInstance = function (id) {
    for (const se of (SONO.state.study || { series: [] }).series) for (const i of se.instances) if (i.id === id) return i;
    return null;
  };
  SONO.showInstance = async function (id, paneIndex) {
    const pane = SONO.state.panes[paneIndex === undefined ? SONO.state.active : paneIndex];
    const inst = SONO.findInstance(id);
    // another study was opened meanwhile (an upload's answer arriving after a click): the image
    // is not in the open study, so the pane keeps what it shows
    if (!inst) return;
    pane.generation += 1;  // what the pane shows changed (showOtherStudy)
    pane.inst = inst;
    pane.study = null; // the current study (its analyses are reloaded after each change)
    showBaselineChoice();
    pane.calipers = []; pane.draft = null; pane.wc = 128; pane.ww = 256;
    setPaneLabel(pane);
    document.querySelectorAll(".thumb").forEach((t) => t.classList.toggle("selected", Number(t.dataset.instanceId) === id));
    fitView(pane);
    await showFrame(pane, 0);
    renderMeasures();
    SONO.emit("instance", pane);
  };
  SONO.redraw = () => SONO.state.panes.forEach(draw);

  // ---------------------------------------------------------------- baseline / follow-up
  // the open study's patient's other studies (from the study itself: the list beside may be a
  // search that leaves them out, or an answer older than the study). The choice shown is the
  // study pane 2 shows, if any; pane 2 closes when its study is no longer the patient's.
  function fillBaselineChoices() {
    const sel = $("#baseline");
    const cur = SONO.state.study;
    sel.replaceChildren();
    const none = document.createElement("option");
    none.value = ""; none.textContent = "other study: none";
    sel.appendChild(none);
    if (!cur) return;
    for (const s of cur.other_studies || []) {
      const o = document.createElement("option");
      o.value = String(s.id);
      o.textContent = `${s.date || "undated"} ${s.description || "study"}`;
      sel.appendChild(o);
    }
    const beside = SONO.state.panes[1].study;
    if (beside && !isOtherStudy(beside.id)) closeSecondPane();
    showBaselineChoice();
  }
  // whether a study is one of the open study's patient's other studies
  function isOtherStudy(id) {
    return !!SONO.state.study && (SONO.state.study.other_studies || []).some((s) => s.id === id);
  }
  function showBaselineChoice() {
    const beside = SONO.state.panes[1] && SONO.state.panes[1].study;
    $("#baseline").value = beside ? String(beside.id) : "";
  }
  SONO.showOtherStudy = async function (studyId) {
    const asked = ++latest.other;
    const openId = () => (SONO.state.study ? SONO.state.study.id : null);
    const current = openId();
    const shown = SONO.state.panes[1].generation;
    // only the open study's patient's other studies (a stale choice names another patient's)
    if (!isOtherStudy(studyId)) {
      showBaselineChoice();
      return;
    }
    const other = await SONO.api(`/api/studies/${studyId}`);
    // another comparison was chosen, another study opened (whose patient this may not be; by
    // id, since a reload replaces the open study's object), or pane 2 took another image
    if (asked !== latest.other || openId() !== current || SONO.state.panes[1].generation !== shown) return;
    const base = SONO.state.panes[0].inst;
    const all = other.series.flatMap((se) => se.instances);
    const match = all.find((i) => base && i.site && i.site === base.site && i.side === base.side) || all[0];
    if (!match) return;
    $("#compare").checked = true;
    const pane = SONO.state.panes[1];
    pane.el.classList.remove("hidden");
    pane.generation += 1;
    pane.study = other; pane.inst = match;
    pane.calipers = []; pane.draft = null; pane.wc = 128; pane.ww = 256;
    showBaselineChoice();
    setPaneLabel(pane);
    setActive(1);
    SONO.state.panes.forEach((p) => fitView(p));
    await showFrame(pane, 0);
    SONO.state.panes.forEach(draw);
  };

  // ---------------------------------------------------------------- workflows
  function renderTabs() {
    const nav = $("#workflow-tabs");
    nav.innerHTML = "";
    for (const meta of SONO.state.workflowMeta) {
      const def = SONO.state.workflows[meta.name];
      if (!def) continue;
      const b = document.createElement("button");
      b.textContent = meta.title; b.dataset.workflow = meta.name;
      b.addEventListener("click", () => openWorkflow(meta.name));
      nav.appendChild(b);
    }
    if (!SONO.state.currentWorkflow && nav.firstChild) openWorkflow(nav.firstChild.dataset.workflow);
  }
  function openWorkflow(name) {
    SONO.state.currentWorkflow = name;
    document.querySelectorAll("#workflow-tabs button").forEach((b) => b.classList.toggle("active", b.dataset.workflow === name));
    const body = $("#workflow-body");
    body.innerHTML = "";
    SONO.state.workflows[name].render(body, SONO);
  }
  async function loadWorkflows() {
    SONO.state.workflowMeta = (await SONO.api("/api/workflows")).filter((w) => w.available);
    for (const w of SONO.state.workflowMeta) {
      const s = document.createElement("script");
      s.src = w.panel;
      s.async = false; // run in list order, so the first workflow's tab opens first
      document.body.appendChild(s);
    }
  }

  // ---------------------------------------------------------------- wiring
  async function upload(files) {
    let last = null;
    const done = [];
    const failed = [];
    // a file without patient data gets a study of its own unless the user puts it in the open one
    const open = SONO.state.study ? SONO.state.study.id : null;
    const into = $("#into-open-study") && $("#into-open-study").checked && open !== null ? `?into_study=${open}` : "";
    for (const f of files) {
      const fd = new FormData();
      fd.append("file", f, f.name);
      try {
        SONO.setStatus(`uploading ${f.name}...`);
        const r = await SONO.api(`/api/upload${into}`, { method: "POST", body: fd });
        if (into && r.study_id !== open) {
          // stored before in another study (the same content): not moved, and the open study stays
          done.push(`${f.name}: already stored in study ${r.study_id}, not added to the open study`);
          continue;
        }
        last = r;
        done.push(`${f.name}: ${r.created ? "stored" : "already stored"}`);
      } catch (e) { failed.push(e.message.startsWith(f.name) ? e.message : `${f.name}: ${e.message}`); }
    }
    await loadStudies();
    if (last) {
      await SONO.showStudy(last.study_id);
      await SONO.showInstance(last.instance_id, SONO.state.active);  // the image just uploaded
    }
    // every file's outcome, failures first: the last message must not hide an earlier failure
    if (failed.length) SONO.setStatus(`${failed.length} of ${files.length} not stored: ${failed.join("; ")}${done.length ? ` · ${done.join("; ")}` : ""}`, true);
    else SONO.setStatus(done.join("; "));
  }
  let timer = null;
  function togglePlay() {
    const pane = SONO.activePane();
    if (timer) { clearInterval(timer); timer = null; $("#play").textContent = "Play"; return; }
    if (!pane.inst || pane.inst.frames < 2) return;
    const dt = Math.max(20, 1000 * (pane.inst.frame_time_s || 0.04));
    $("#play").textContent = "Pause";
    timer = setInterval(() => {
      // the image went away or is a still one now: playing stops
      if (!pane.inst || pane.inst.frames < 2) { clearInterval(timer); timer = null; $("#play").textContent = "Play"; return; }
      showFrame(pane, (pane.frame + 1) % pane.inst.frames);
    }, dt);
  }
  window.addEventListener("DOMContentLoaded", async () => {
    SONO.state.panes = [makePane(0), makePane(1)];
    document.querySelectorAll("#toolbar [data-tool]").forEach((b) => b.addEventListener("click", () => {
      SONO.state.tool = b.dataset.tool;
      document.querySelectorAll("#toolbar [data-tool]").forEach((x) => x.classList.toggle("active", x === b));
      SONO.redraw();
    }));
    $("#zoom-in").onclick = () => { const p = SONO.activePane(); zoomAt(p, 1.25, p.canvas.clientWidth / 2, p.canvas.clientHeight / 2); };
    $("#zoom-out").onclick = () => { const p = SONO.activePane(); zoomAt(p, 0.8, p.canvas.clientWidth / 2, p.canvas.clientHeight / 2); };
    $("#reset-view").onclick = () => { const p = SONO.activePane(); p.wc = 128; p.ww = 256; fitView(p); showFrame(p, p.frame); };
    $("#prev-frame").onclick = () => { const p = SONO.activePane(); showFrame(p, p.frame - 1); };
    $("#next-frame").onclick = () => { const p = SONO.activePane(); showFrame(p, p.frame + 1); };
    $("#frame-slider").oninput = (e) => showFrame(SONO.activePane(), Number(e.target.value));
    $("#play").onclick = togglePlay;
    $("#clear-calipers").onclick = () => { SONO.state.panes.forEach((p) => { p.calipers = []; p.draft = null; draw(p); }); renderMeasures(); };
    $("#compare").onchange = (e) => {
      SONO.state.panes[1].el.classList.toggle("hidden", !e.target.checked);
      setActive(e.target.checked ? 1 : 0);
      SONO.state.panes.forEach((p) => { fitView(p); draw(p); });
    };
    $("#baseline").onchange = (e) => {
      if (e.target.value) SONO.showOtherStudy(Number(e.target.value));
      else if (SONO.state.panes[1].study) closeSecondPane();  // "none": no other study beside this one
      else latest.other++;  // nor one still on its way
    };
    $("#search").addEventListener("input", () => loadStudies());
    $("#upload").addEventListener("change", (e) => upload(Array.from(e.target.files)));
    window.addEventListener("resize", () => SONO.state.panes.forEach((p) => { fitView(p); draw(p); }));
    try {
      await loadWorkflows();
      await loadStudies();
      if (SONO.state.studies.length) await SONO.showStudy(SONO.state.studies[0].id);
      SONO.setStatus("ready");
    } catch (e) { /* shown in status */ }
  });
})();
