// jdfd drawing app: canvas with undo/redo, sliders, live synthesis through /api/generate.
// Plain browser JavaScript, no build step and nothing loaded from elsewhere.
"use strict";

(() => {
  const SIZE = 512;
  const DEBOUNCE_MS = 150;
  const PARTS = ["eye1", "eye2", "nose", "mouth", "remainder"];
  const $ = (id) => document.getElementById(id);

  const canvas = $("sketch");
  const ctx = canvas.getContext("2d");
  const shadowImg = $("shadow");
  const resultImg = $("result");
  const stage = $("stage");

  const state = {
    tool: "brush",
    ops: [],        // the sketch as a replayable list: {type: "stroke"|"image"|"clear", ...}
    redo: [],
    current: null,  // the stroke being drawn
    seq: 0,         // last request number sent
    shown: 0,       // request number of the result on screen; older answers are dropped
    inflight: false,
    pending: false, // something changed while a request was running
    timer: null,
    face: null,     // base64 PNG of the face on screen
    info: null,
  };

  // ------------------------------------------------------------------ drawing
  function strokeStyle(op) {
    return op.tool === "eraser" ? "#ffffff" : "#000000";
  }

  // Draw the segments of a stroke from point index `from` on (incremental while drawing).
  function drawStroke(c, op, from) {
    const pts = op.points;
    c.save();
    c.strokeStyle = c.fillStyle = strokeStyle(op);
    c.lineCap = "round";
    c.lineJoin = "round";
    if (pts.length === 1 && from === 0) {
      const [x, y, p] = pts[0];
      c.beginPath();
      c.arc(x, y, (op.size * p) / 2, 0, 2 * Math.PI);
      c.fill();
    }
    for (let i = Math.max(1, from); i < pts.length; i++) {
      const [x0, y0] = pts[i - 1];
      const [x1, y1, p] = pts[i];
      c.lineWidth = op.size * p;
      c.beginPath();
      c.moveTo(x0, y0);
      c.lineTo(x1, y1);
      c.stroke();
    }
    c.restore();
  }

  function drawOp(c, op) {
    if (op.type === "clear") {
      c.fillStyle = "#ffffff";
      c.fillRect(0, 0, SIZE, SIZE);
    } else if (op.type === "image") {
      c.fillStyle = "#ffffff";
      c.fillRect(0, 0, SIZE, SIZE);
      c.drawImage(op.image, 0, 0, SIZE, SIZE); // stretched like the server's resize to the canvas
    } else {
      drawStroke(c, op, 0);
    }
  }

  function render() {
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, SIZE, SIZE);
    for (const op of state.ops) drawOp(ctx, op);
    updateButtons();
  }

  function brushSize() {
    return Number($(state.tool === "eraser" ? "eraser-size" : "brush-size").value);
  }

  function pointOf(e) {
    // the canvas may be displayed smaller than 512 px (narrow screens)
    const r = canvas.getBoundingClientRect();
    const x = ((e.clientX - r.left) * SIZE) / r.width;
    const y = ((e.clientY - r.top) * SIZE) / r.height;
    // pen pressure thins or thickens the line; mouse and touch draw at the set size
    const p = e.pointerType === "pen" && e.pressure > 0 ? 0.4 + 0.9 * e.pressure : 1;
    return [Math.round(x * 10) / 10, Math.round(y * 10) / 10, p];
  }

  canvas.addEventListener("pointerdown", (e) => {
    if (state.current || (e.pointerType === "mouse" && e.button !== 0)) return;
    e.preventDefault();
    try {
      canvas.setPointerCapture(e.pointerId); // keep the stroke when the pointer leaves the canvas
    } catch (_) {
      // synthetic or already-released pointers cannot be captured; drawing still works
    }
    state.current = { type: "stroke", tool: state.tool, size: brushSize(), points: [pointOf(e)], id: e.pointerId };
    drawStroke(ctx, state.current, 0);
  });

  canvas.addEventListener("pointermove", (e) => {
    const cur = state.current;
    if (!cur || e.pointerId !== cur.id) return;
    const events = (e.getCoalescedEvents && e.getCoalescedEvents()) || [];
    const from = cur.points.length;
    for (const ev of events.length ? events : [e]) cur.points.push(pointOf(ev));
    drawStroke(ctx, cur, from);
  });

  function endStroke(e) {
    const cur = state.current;
    if (!cur || e.pointerId !== cur.id) return;
    state.current = null;
    delete cur.id;
    commit(cur);
  }
  canvas.addEventListener("pointerup", endStroke);
  canvas.addEventListener("pointercancel", endStroke);

  // Every edit goes through here: it lands on the undo list and clears redo.
  function commit(op) {
    state.ops.push(op);
    state.redo = [];
    render();
    changed();
  }

  function undo() {
    if (!state.ops.length || state.current) return;
    state.redo.push(state.ops.pop());
    render();
    changed();
  }

  function redo() {
    if (!state.redo.length || state.current) return;
    state.ops.push(state.redo.pop());
    render();
    changed();
  }

  function clearSketch() {
    const last = state.ops[state.ops.length - 1];
    if (!state.ops.length || last.type === "clear") return;
    commit({ type: "clear" });
  }

  function setTool(tool) {
    state.tool = tool;
    for (const t of ["brush", "eraser"]) {
      const b = $(`tool-${t}`);
      b.classList.toggle("active", t === tool);
      b.setAttribute("aria-pressed", String(t === tool));
    }
    canvas.classList.toggle("eraser", tool === "eraser");
  }

  function updateButtons() {
    $("undo").disabled = !state.ops.length;
    $("redo").disabled = !state.redo.length;
    $("save-face").disabled = !state.face;
  }

  // ------------------------------------------------------------------ load / save
  function loadFile(file) {
    if (!file) return;
    if (file.type && !file.type.startsWith("image/")) {
      setStatus(`${file.name} is not an image`, "error");
      return;
    }
    const url = URL.createObjectURL(file);
    const img = new Image();
    img.onload = () => {
      commit({ type: "image", image: img });
      URL.revokeObjectURL(url); // the decoded image stays usable for undo/redo replays
    };
    img.onerror = () => {
      URL.revokeObjectURL(url);
      setStatus(`${file.name} could not be read as an image`, "error");
    };
    img.src = url;
  }

  function download(href, name) {
    const a = document.createElement("a");
    a.href = href;
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
  }

  function stamp() {
    return new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
  }

  // ------------------------------------------------------------------ generation
  function setStatus(text, kind) {
    const s = $("status");
    s.textContent = text;
    s.className = kind === "error" ? "error" : "muted";
  }

  function blendValues() {
    const out = {};
    for (const p of PARTS) out[p] = Number($(`blend-${p}`).value);
    return out;
  }

  function selectedGender() {
    const r = document.querySelector('input[name="gender"]:checked');
    return r ? r.value : null;
  }

  function wantShadow() {
    return $("show-shadow").checked && !!(state.info && state.info.has_banks);
  }

  // Called after every change; in real-time mode it schedules a (debounced) generation.
  function changed() {
    if (!$("realtime").checked) return;
    clearTimeout(state.timer);
    state.timer = setTimeout(generate, DEBOUNCE_MS);
  }

  // One request at a time: the server works one sketch at a time anyway, so a queue of
  // requests would only delay the newest. Changes made meanwhile are sent when it returns.
  async function generate() {
    clearTimeout(state.timer);
    state.timer = null;
    if (state.current) return; // mid-stroke: the end of the stroke triggers the next one
    if (state.inflight) {
      state.pending = true;
      return;
    }
    state.inflight = true;
    state.pending = false;
    const seq = ++state.seq;
    const body = { sketch: canvas.toDataURL("image/png"), blend: blendValues(), shadow: wantShadow(), seq };
    const gender = selectedGender();
    if (gender) body.gender = gender;
    document.querySelector(".result-stage").classList.add("busy");
    try {
      const r = await fetch("/api/generate", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      const data = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
      if (!r.ok) throw new Error(data.error || `HTTP ${r.status}`);
      applyResult(seq, data);
    } catch (err) {
      if (seq > state.shown) setStatus(`Error: ${err.message}`, "error");
    } finally {
      state.inflight = false;
      document.querySelector(".result-stage").classList.remove("busy");
      if (state.pending) generate();
    }
  }

  // Show an answer unless a newer one is already on screen (stale results never win).
  function applyResult(seq, data) {
    if (seq <= state.shown) return false;
    state.shown = seq;
    state.face = data.image;
    resultImg.src = `data:image/png;base64,${data.image}`;
    resultImg.hidden = false;
    resultImg.dataset.seq = String(seq);
    $("result-placeholder").hidden = true;
    if (data.shadow) {
      shadowImg.src = `data:image/png;base64,${data.shadow}`;
      shadowImg.dataset.seq = String(seq);
    }
    shadowImg.hidden = !$("show-shadow").checked || !shadowImg.getAttribute("src");
    setStatus(`Generated in ${Math.round(data.ms)} ms`);
    updateButtons();
    return true;
  }

  // ------------------------------------------------------------------ controls
  function buildSliders(info) {
    const box = $("sliders");
    for (const p of PARTS) {
      const label = document.createElement("label");
      label.className = "slider";
      label.title = p;
      label.append(`${(info.part_labels && info.part_labels[p]) || p} `);
      const input = document.createElement("input");
      Object.assign(input, { type: "range", id: `blend-${p}`, min: 0, max: 1, step: 0.01, value: 1 });
      input.dataset.part = p;
      const out = document.createElement("output");
      out.id = `blend-${p}-out`;
      out.textContent = "1.00";
      label.append(input, out);
      box.append(label);
      input.addEventListener("input", () => {
        out.textContent = Number(input.value).toFixed(2);
        syncAll();
        changed();
      });
    }
    $("blend-all").addEventListener("input", () => {
      const v = $("blend-all").value;
      for (const p of PARTS) {
        $(`blend-${p}`).value = v;
        $(`blend-${p}-out`).textContent = Number(v).toFixed(2);
      }
      $("blend-all-out").textContent = Number(v).toFixed(2);
      changed();
    });
  }

  // "All" shows the mean of the five parts after a single part moves
  function syncAll() {
    const vals = PARTS.map((p) => Number($(`blend-${p}`).value));
    const mean = vals.reduce((a, b) => a + b, 0) / vals.length;
    $("blend-all").value = mean;
    $("blend-all-out").textContent = mean.toFixed(2);
  }

  function buildGenders(info) {
    if (!info.genders || info.genders.length < 2) return;
    const box = $("genders");
    for (const g of info.genders) {
      const label = document.createElement("label");
      const input = document.createElement("input");
      Object.assign(input, { type: "radio", name: "gender", value: g, checked: g === (info.default_gender || info.genders[0]) });
      input.addEventListener("change", changed);
      label.append(input, ` ${g}`);
      box.append(label);
    }
    $("gender-box").hidden = false;
  }

  function applyInfo(info) {
    state.info = info;
    $("model-info").textContent = `model: ${info.name} · ${info.model_size}px` +
      (info.genders.length ? ` · banks: ${info.genders.join(", ")}` : " · no banks");
    buildSliders(info);
    buildGenders(info);
    if (!info.has_banks) {
      // without banks the only valid blend is 0, and there is no shadow to show
      for (const el of document.querySelectorAll("#sliders input")) {
        el.value = 0;
        el.disabled = true;
      }
      for (const el of document.querySelectorAll("#sliders output")) el.textContent = "0.00";
      $("show-shadow").checked = false;
      $("show-shadow").disabled = true;
      $("no-banks").hidden = false;
    }
  }

  function bindUi() {
    $("tool-brush").addEventListener("click", () => setTool("brush"));
    $("tool-eraser").addEventListener("click", () => setTool("eraser"));
    for (const id of ["brush-size", "eraser-size"]) {
      $(id).addEventListener("input", () => ($(`${id}-out`).textContent = $(id).value));
    }
    $("undo").addEventListener("click", undo);
    $("redo").addEventListener("click", redo);
    $("clear").addEventListener("click", clearSketch);
    $("load").addEventListener("change", (e) => {
      loadFile(e.target.files[0]);
      e.target.value = ""; // loading the same file twice still fires
    });
    $("save-sketch").addEventListener("click", () => download(canvas.toDataURL("image/png"), `sketch-${stamp()}.png`));
    $("save-face").addEventListener("click", () => {
      if (state.face) download(`data:image/png;base64,${state.face}`, `face-${stamp()}.png`);
    });
    $("convert").addEventListener("click", generate);
    $("realtime").addEventListener("change", () => {
      $("convert").classList.toggle("primary", !$("realtime").checked);
      changed();
    });
    $("show-shadow").addEventListener("change", () => {
      const on = $("show-shadow").checked;
      shadowImg.hidden = !on || !shadowImg.getAttribute("src");
      if (on) changed(); // the last answer may have been made without a shadow
    });
    $("shadow-opacity").addEventListener("input", () => {
      document.documentElement.style.setProperty("--shadow-opacity", String($("shadow-opacity").value / 100));
    });

    stage.addEventListener("dragover", (e) => {
      e.preventDefault();
      stage.classList.add("dragover");
    });
    stage.addEventListener("dragleave", () => stage.classList.remove("dragover"));
    stage.addEventListener("drop", (e) => {
      e.preventDefault();
      stage.classList.remove("dragover");
      loadFile(e.dataTransfer.files[0]);
    });

    document.addEventListener("keydown", (e) => {
      const typing = e.target instanceof HTMLInputElement && e.target.type !== "range" && e.target.type !== "checkbox";
      if (typing) return;
      const mod = e.ctrlKey || e.metaKey;
      const key = e.key.toLowerCase();
      if (mod && key === "z") {
        e.preventDefault();
        e.shiftKey ? redo() : undo();
      } else if (mod && key === "y") {
        e.preventDefault();
        redo();
      } else if (!mod && key === "b") {
        setTool("brush");
      } else if (!mod && key === "e") {
        setTool("eraser");
      } else if (!mod && (key === "[" || key === "]")) {
        const id = state.tool === "eraser" ? "eraser-size" : "brush-size";
        const el = $(id);
        el.value = Number(el.value) + (key === "]" ? 1 : -1) * (state.tool === "eraser" ? 4 : 1);
        $(`${id}-out`).textContent = el.value;
      }
    });
  }

  async function init() {
    bindUi();
    render();
    try {
      const r = await fetch("/api/info");
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      applyInfo(await r.json());
    } catch (err) {
      setStatus(`Cannot reach the jdfd server: ${err.message}`, "error");
      return;
    }
    document.body.dataset.ready = "1";
    // the blank canvas already has a shadow: show it before the first stroke
    if ($("realtime").checked) generate();
  }

  // for tests and the browser console
  window.jdfd = { state, applyResult, generate, render, undo, redo };
  init();
})();
