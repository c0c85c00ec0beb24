// The eigjax page: every prompt change POSTs the whole prompt to /api/predict (the server
// keeps no per-client state) and redraws. No build step, no external code.
"use strict";

const $ = (id) => document.getElementById(id);
const canvas = $("canvas");
const ctx = canvas.getContext("2d");
const DISPLAY = 512; // CSS pixels of the image's longest side.

const state = {
  images: [],
  entry: null, // {name, width, height, has_mask, truths}
  picture: null, // HTMLImageElement of the image
  outline: null, // HTMLImageElement of the ground truth's outline, or null
  actions: [], // [{click: [x, y, label]} | {box: [x0, y0, x1, y1]}], undone from the end
  result: null, // the last /api/predict answer for the current actions
  layers: { mask: null, eig: null }, // canvases at image resolution
  oracle: null, // {click, dice} for the current actions
  oracleJob: null, // the running Oracle's job id (GET /api/oracle?job=), or null
  history: [], // per prompt: {prompt, dice, iou, eig}
  seq: 0, // answers to older requests are dropped
  drag: null, // {start: [x, y], button, shift, moved, rect} while the mouse is down
  config: null, // GET /api/config
  objects: [], // this image's saved objects (GET /api/objects)
  saved: null, // HTMLImageElement of their outlines
  editing: null, // the saved object reopened, or null: a new object
  undone: [], // actions undone, redone from the end (a new action clears them)
  tool: "prompt", // "prompt" | "brush" | "eraser"
  view: { zoom: 1, ox: 0, oy: 0 }, // magnification over the fit, image pixel at top-left
  pan: null, // {x, y, ox, oy} while dragging the view
  display: null, // the picture through the contrast window (a canvas), or the picture
};

function clicks() { return state.actions.filter((a) => a.click).map((a) => a.click); }
function strokes() { return state.actions.filter((a) => a.stroke).map((a) => a.stroke); }
function prompted() { return state.actions.some((a) => a.click || a.box); }
function box() {
  const boxes = state.actions.filter((a) => a.box);
  return boxes.length ? boxes[boxes.length - 1].box : null;
}
// The request body of /api/predict and /api/oracle: the whole prompt, every time.
function promptBody() {
  return {
    image: state.entry.name,
    model: $("model").value,
    clicks: clicks(),
    box: box(),
    mask_rule: $("mask-rule").value,
    strokes: strokes(),
    truth: truth(),
  };
}
function truth() { return Number($("truth").value || 0); } // The ground truth scored.
function setStatus(text, error = false) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "muted";
}
function fmt(v) { // Scores: three decimals.
  return v === null || v === undefined ? "–" : v.toFixed(3);
}
function fmtEig(v) { // EIG spans decades (1e-5 to 0.7 nats).
  if (v === null || v === undefined) return "–";
  return Math.abs(v) >= 0.01 || v === 0 ? v.toFixed(3) : v.toExponential(2);
}

async function api(path, body, method = "POST") {
  const init = body === undefined ? {} : {
    method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {  // No answer at all: the server is gone, not the request wrong.
    throw new Error("the server is not answering (is python -m experiments.serve running?); " +
      "nothing on this page was lost: retry when it is back");
  }
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function loadImage(src) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("could not load " + src));
    img.src = src;
  });
}

// pycocotools' compressed RLE string → run lengths (its rleFrString).
function rleCounts(text) {
  const counts = [];
  for (let p = 0; p < text.length;) {
    let x = 0, k = 0, more = 1;
    while (more) {
      const c = text.charCodeAt(p) - 48;
      x |= (c & 0x1f) << (5 * k);
      more = c & 0x20;
      p++; k++;
      if (!more && (c & 0x10)) x |= -1 << (5 * k);
    }
    if (counts.length > 2) x += counts[counts.length - 2];
    counts.push(x);
  }
  return counts;
}

// A COCO RLE mask (column-major runs, background first) → a tinted, half-transparent layer.
function maskLayer(rle) {
  const [h, w] = rle.size;
  const layer = document.createElement("canvas");
  layer.width = w;
  layer.height = h;
  const c = layer.getContext("2d");
  const data = c.createImageData(w, h);
  const px = data.data;
  let i = 0;
  rleCounts(rle.counts).forEach((run, r) => {
    if (r % 2) {
      for (let j = i; j < i + run; j++) {
        const o = ((j % h) * w + Math.floor(j / h)) * 4;
        px[o] = 0; px[o + 1] = 190; px[o + 2] = 255; px[o + 3] = 120;
      }
    }
    i += run;
  });
  c.putImageData(data, 0, 0);
  return layer;
}

// The EIG map's levels (gray PNG, 0–255 of 0…top) → the colour map, opacity rising with
// the value so that the image shows through where a click teaches little.
// The EIG map's levels (0…255 of 0…result.eig_scale[1]) coloured: on the relative scale
// its top is the map's maximum; on the absolute one, ln 2 nats (the most a click's yes or
// no can tell), so maps of two prompts or images compare.
async function eigLayer(result) {
  const img = await loadImage("data:image/png;base64," + result.eig);
  const { canvas: layer, context, data } = pixels(img);
  const px = data.data;
  const lut = state.config.colormap;
  const factor = $("eig-absolute").checked ? result.eig_scale[1] / Math.LN2 : 1;
  for (let i = 0; i < px.length; i += 4) {
    const v = Math.min(255, Math.round(px[i] * factor));
    [px[i], px[i + 1], px[i + 2]] = lut[v];
    px[i + 3] = Math.round((v * 220) / 255);
  }
  context.putImageData(data, 0, 0);
  return layer;
}

// An image drawn on a canvas of its own size, with its pixels read back, to be changed.
function showEigTop(result) {
  $("eig-top").textContent = $("eig-absolute").checked ? "ln 2 = 0.693 nats"
    : fmtEig(result.eig_scale[1]) + " nats";
}

async function rescaleEig() {
  if (!state.result) return;
  state.layers.eig = await eigLayer(state.result);
  showEigTop(state.result);
  draw();
}

function pixels(img) {
  const canvas = document.createElement("canvas");
  canvas.width = img.width;
  canvas.height = img.height;
  const context = canvas.getContext("2d");
  context.drawImage(img, 0, 0);
  return { canvas, context, data: context.getImageData(0, 0, img.width, img.height) };
}

// The view: the canvas shows the image fitted (zoom 1) or magnified, `ox, oy` the image
// point at its top-left corner.
function scale() { return (canvas.width / state.entry.width) * state.view.zoom; }
function toCanvas(x, y) { return [(x - state.view.ox) * scale(), (y - state.view.oy) * scale()]; }
function toImageExact(event) {
  const r = canvas.getBoundingClientRect();
  const cx = ((event.clientX - r.left) * canvas.width) / r.width;
  const cy = ((event.clientY - r.top) * canvas.height) / r.height;
  return [cx / scale() + state.view.ox, cy / scale() + state.view.oy];
}
function toImage(event) {
  const [x, y] = toImageExact(event);
  return [
    Math.min(state.entry.width - 1, Math.max(0, Math.floor(x))),
    Math.min(state.entry.height - 1, Math.max(0, Math.floor(y))),
  ];
}
function setView(zoom, ox, oy) {
  const v = state.view;
  v.zoom = Math.min(64, Math.max(1, zoom));
  v.ox = Math.min(state.entry.width * (1 - 1 / v.zoom), Math.max(0, ox));
  v.oy = Math.min(state.entry.height * (1 - 1 / v.zoom), Math.max(0, oy));
  $("zoom").textContent = v.zoom.toFixed(v.zoom < 10 ? 1 : 0) + "×";
  draw();
}
function fit() { setView(1, 0, 0); }

function marker(x, y, colour, radius, shape = "circle") {
  const [cx, cy] = toCanvas(x + 0.5, y + 0.5);
  ctx.lineWidth = 2;
  ctx.strokeStyle = "white";
  ctx.fillStyle = colour;
  ctx.beginPath();
  if (shape === "diamond") {
    ctx.moveTo(cx, cy - radius); ctx.lineTo(cx + radius, cy);
    ctx.lineTo(cx, cy + radius); ctx.lineTo(cx - radius, cy); ctx.closePath();
  } else {
    ctx.arc(cx, cy, radius, 0, 2 * Math.PI);
  }
  ctx.fill();
  ctx.stroke();
}

function crosshair(x, y, colour) {
  const [cx, cy] = toCanvas(x + 0.5, y + 0.5);
  ctx.strokeStyle = colour;
  ctx.lineWidth = 2.5;
  ctx.beginPath();
  ctx.arc(cx, cy, 11, 0, 2 * Math.PI);
  ctx.moveTo(cx - 17, cy); ctx.lineTo(cx - 5, cy);
  ctx.moveTo(cx + 5, cy); ctx.lineTo(cx + 17, cy);
  ctx.moveTo(cx, cy - 17); ctx.lineTo(cx, cy - 5);
  ctx.moveTo(cx, cy + 5); ctx.lineTo(cx, cy + 17);
  ctx.stroke();
}

function rect(b, colour, dash) {
  const s = scale();
  ctx.setLineDash(dash ? [6, 4] : []);
  ctx.strokeStyle = colour;
  ctx.lineWidth = 2;
  const [x0, y0] = toCanvas(b[0], b[1]);
  ctx.strokeRect(x0, y0, (b[2] - b[0]) * s, (b[3] - b[1]) * s);
  ctx.setLineDash([]);
}

// A stroke being drawn, or drawn: its path, as wide as the brush.
function strokePath(stroke, alpha) {
  const s = scale();
  ctx.strokeStyle = stroke.mode === "brush" ? `rgba(29,185,84,${alpha})` : `rgba(229,57,53,${alpha})`;
  ctx.lineWidth = Math.max(1, 2 * stroke.radius * s);
  ctx.lineCap = ctx.lineJoin = "round";
  ctx.beginPath();
  stroke.points.forEach(([x, y], i) => {
    const [cx, cy] = toCanvas(x, y);
    if (i === 0) { ctx.moveTo(cx, cy); ctx.lineTo(cx + 0.01, cy); } else ctx.lineTo(cx, cy);
  });
  ctx.stroke();
}

function draw() {
  if (!state.picture) return;
  const { width: w, height: h } = state.entry;
  const s = scale();
  ctx.imageSmoothingEnabled = false;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  // Layers in image pixels: the view's transform places them.
  ctx.setTransform(s, 0, 0, s, -state.view.ox * s, -state.view.oy * s);
  ctx.drawImage(state.display || state.picture, 0, 0, w, h);
  if (state.result) {
    ctx.imageSmoothingEnabled = true;  // The EIG map comes at display resolution.
    if ($("show-eig").checked && state.layers.eig) ctx.drawImage(state.layers.eig, 0, 0, w, h);
    ctx.imageSmoothingEnabled = false;
    if ($("show-mask").checked && state.layers.mask) ctx.drawImage(state.layers.mask, 0, 0, w, h);
  }
  if ($("show-gt").checked && state.outline) ctx.drawImage(state.outline, 0, 0, w, h);
  if ($("show-saved").checked && state.saved) ctx.drawImage(state.saved, 0, 0, w, h);
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  if (state.drag && state.drag.stroke) strokePath(state.drag.stroke, 0.45);
  const b = box();
  if (b) rect(b, "#ffd400", false);
  if (state.drag && state.drag.rect) rect(state.drag.rect, "#ffd400", true);
  const cs = clicks();
  cs.forEach(([x, y, label], i) => {
    const newest = i === cs.length - 1;
    marker(x, y, label ? "#1db954" : "#e53935", newest ? 8 : 5);
    if (newest) {
      ctx.strokeStyle = label ? "#1db954" : "#e53935";
      ctx.lineWidth = 2;
      ctx.beginPath();
      const [cx, cy] = toCanvas(x + 0.5, y + 0.5);
      ctx.arc(cx, cy, 13, 0, 2 * Math.PI);
      ctx.stroke();
    }
  });
  if (state.result && state.result.suggestion) {
    crosshair(state.result.suggestion[0], state.result.suggestion[1], "#ffd400");
  }
  if (state.oracle) marker(state.oracle.click[0], state.oracle.click[1], "#d500f9", 7, "diamond");
}

function showTokens(result) {
  const cells = $("tokens").rows[1].cells;
  for (let t = 0; t < 4; t++) {
    cells[t + 1].textContent = result ? result.iou[t].toFixed(3) : "–";
    cells[t + 1].className = result && result.token === t ? "proposed" : "";
  }
  // SAM 3's object-score head: its logit, > 0 when the model sees an object.
  const score = $("object-score");
  score.hidden = !result || result.object_score === null;
  if (!score.hidden) score.textContent = `object score ${result.object_score.toFixed(2)}`;
}

function showHistory() {
  const body = $("history").tBodies[0];
  body.innerHTML = "";
  state.history.forEach((h, i) => {
    const row = body.insertRow();
    [String(i + 1), h.prompt, fmt(h.dice), fmt(h.iou), fmtEig(h.eig)].forEach((text) => {
      row.insertCell().textContent = text;
    });
  });
  $("clicks-count").textContent = String(clicks().length);
}

function describe(action) {
  if (action.box) return "box " + action.box.map(Math.round).join(", ");
  if (action.stroke) {
    const st = action.stroke;
    return st.mode + " r " + st.radius + " (" + st.points.length + " points)";
  }
  const [x, y, label] = action.click;
  return (label ? "+ " : "− ") + "(" + x + ", " + y + ")" + (action.via ? " " + action.via : "");
}

async function update() {
  cancelOracle();  // Its answer would be for the prompt before.
  const seq = ++state.seq;
  state.oracle = null;
  $("oracle-result").textContent = "";
  const hasPrompt = prompted();  // Strokes edit a model's mask: they need a prompt.
  $("undo").disabled = $("reset").disabled = !state.actions.length;
  $("redo").disabled = !state.undone.length;
  $("save").disabled = !hasPrompt;
  if (!hasPrompt) {
    state.result = null;
    state.history = [];
    $("accept").disabled = $("oracle").disabled = true;
    $("suggestion").textContent = $("eig-max").textContent = $("eig-top").textContent = "–";
    showTokens(null);
    showHistory();
    document.body.dataset.state = "ready";
    draw();
    return;
  }
  document.body.dataset.state = "busy";
  setStatus("predicting…");
  const started = performance.now();
  try {
    const result = await api("/api/predict", promptBody());
    const [mask, eig] = [maskLayer(result.mask), await eigLayer(result)];
    if (seq !== state.seq) return;
    state.result = result;
    state.layers = { mask, eig };
    // One row per action; actions restored at once (a reopened object) show no scores.
    state.history = state.history.slice(0, state.actions.length - 1);
    state.actions.slice(state.history.length, -1).forEach((a) => {
      state.history.push({ prompt: describe(a), dice: null, iou: null, eig: null });
    });
    state.history.push({
      prompt: describe(state.actions[state.actions.length - 1]),
      dice: result.dice, iou: result.gt_iou, eig: result.eig_max,
    });
    $("eig-max").textContent = fmtEig(result.eig_max) + " nats";
    showEigTop(result);
    $("suggestion").textContent = result.suggestion
      ? "(" + result.suggestion.join(", ") + ")" : "none left";
    $("accept").disabled = !result.suggestion;
    $("oracle").disabled = !state.entry.has_mask;
    showTokens(result);
    showHistory();
    const total = performance.now() - started;
    setStatus("server " + result.ms.toFixed(0) + " ms · round trip " + total.toFixed(0) + " ms");
    document.body.dataset.state = "ready";
    draw();
  } catch (e) {
    if (seq !== state.seq) return;
    setStatus(e.message, true);
    document.body.dataset.state = "error";
  }
}

function push(action) {
  state.actions.push(action);
  state.undone = [];
  update();
}

function accept(negative = false) {
  if (!state.result || !state.result.suggestion || document.body.dataset.state !== "ready") return;
  const [x, y] = state.result.suggestion;
  // With a ground truth, it answers (the protocol's simulated annotator); without one,
  // the person does: A for positive, Shift+A for negative.
  const known = state.result.suggestion_label;
  const label = known === null ? (negative ? 0 : 1) : known;
  push({ click: [x, y, label], via: "(EIG)" });
}

// The Oracle tries every grid point, a part at a time: its count is polled, and the button
// (or Esc, or a new prompt) cancels it between two parts.
async function runOracle() {
  if (state.oracleJob) return cancelOracle();
  if ($("oracle").disabled || document.body.dataset.state !== "ready") return;
  const seq = state.seq;
  const job = "page-" + Math.random().toString(36).slice(2, 12);
  state.oracleJob = job;
  document.body.dataset.state = "busy";
  $("oracle").textContent = "Cancel the Oracle (Esc)";
  const started = performance.now();
  const last = state.oracleSeconds ? " (the last took " + state.oracleSeconds.toFixed(0) + " s)" : "";
  let count = "";
  const tick = () => setStatus("the Oracle tries every grid point: " + count +
    ((performance.now() - started) / 1000).toFixed(0) + " s" + last + "…");
  tick();
  const timer = setInterval(async () => {
    try {
      const p = await api("/api/oracle?job=" + job);
      count = p.done + " of " + p.total + " · ";
    } catch (e) { /* Not yet running, or just answered. */ }
    if (state.oracleJob === job) tick();
  }, 500);
  try {
    const result = await api("/api/oracle", { ...promptBody(), job });
    state.oracleSeconds = result.ms / 1000;
    if (seq !== state.seq) return;
    state.oracle = result;
    const [x, y, label] = result.click;
    $("oracle-result").innerHTML = "";
    const text = document.createElement("span");
    text.textContent = "Oracle: " + (label ? "+" : "−") + " (" + x + ", " + y + ") → Dice " +
      result.dice.toFixed(3) + " (" + (result.ms / 1000).toFixed(1) + " s) ";
    const take = document.createElement("button");
    take.textContent = "take it";
    take.onclick = () => push({ click: result.click, via: "(Oracle)" });
    $("oracle-result").append(text, take);
    setStatus("ready");
    document.body.dataset.state = "ready";
    draw();
  } catch (e) {
    if (seq !== state.seq) return;
    setStatus(e.message, !e.message.includes("cancelled"));
    document.body.dataset.state = "ready";
  } finally {
    clearInterval(timer);
    state.oracleJob = null;
    $("oracle").textContent = "Oracle's next click (O)";
  }
}

function cancelOracle() {
  if (!state.oracleJob) return;
  api("/api/oracle", { job: state.oracleJob }, "DELETE").catch(() => {}); // Gone: it answered.
  setStatus("cancelling the Oracle after its current part…");
}

async function selectImage() {
  const entry = state.images.find((e) => e.name === $("image").value);
  document.body.dataset.state = "loading";
  state.entry = entry;
  state.actions = [];
  state.history = [];
  state.result = null;
  edit(null);
  await loadObjects();
  const name = encodeURIComponent(entry.name);
  state.picture = await loadImage("/api/image?name=" + name);
  $("truth").innerHTML = "";
  entry.truths.forEach((t, i) => $("truth").add(new Option(i + 1 + ". " + t, i)));
  $("truth-box").hidden = !entry.has_mask;
  await loadOutline();
  const s = DISPLAY / Math.max(entry.width, entry.height);
  canvas.width = Math.round(entry.width * s);
  canvas.height = Math.round(entry.height * s);
  state.view = { zoom: 1, ox: 0, oy: 0 };
  state.undone = [];
  $("zoom").textContent = "1.0×";
  autoContrast(false);
  const n = entry.truths.length;
  setStatus(entry.width + "×" + entry.height + (n ? ", " + n + " ground truth" + (n > 1 ? "s" : "") : ""));
  await update();
}

async function loadOutline() {
  const query = "?name=" + encodeURIComponent(state.entry.name) + "&truth=" + truth();
  state.outline = state.entry.has_mask ? await loadImage("/api/outline" + query) : null;
}

// Another ground truth: its outline, and every score again (earlier rows were another's).
async function selectTruth() {
  await loadOutline();
  state.history = [];
  await update();
}

function setTool(tool) {
  state.tool = tool;
  document.querySelectorAll("#tools button").forEach((b) => {
    b.classList.toggle("on", b.dataset.tool === tool);
  });
  canvas.dataset.tool = tool;
}

function radius() { return Math.max(0.5, Number($("radius").value) || 8); }

function bindCanvas() {
  canvas.addEventListener("contextmenu", (e) => e.preventDefault());
  canvas.addEventListener("mousedown", (e) => {
    if (!state.entry) return;
    if (typing(document.activeElement)) {  // A click that leaves a text field is no prompt.
      document.activeElement.blur();
      return;
    }
    if (e.button === 1 || e.altKey) {  // Middle button or Alt+drag: pan.
      e.preventDefault();
      state.pan = { x: e.clientX, y: e.clientY, ox: state.view.ox, oy: state.view.oy };
      return;
    }
    if (state.tool !== "prompt" && e.button === 0) {
      const stroke = { mode: state.tool, radius: radius(), points: [toImageExact(e)] };
      state.drag = { stroke };
      draw();
      return;
    }
    const [x, y] = toImage(e);
    state.drag = { start: [x, y], button: e.button, shift: e.shiftKey, moved: false };
  });
  canvas.addEventListener("mousemove", (e) => {
    if (state.pan) {
      const k = canvas.getBoundingClientRect().width / canvas.width * scale();
      setView(state.view.zoom, state.pan.ox - (e.clientX - state.pan.x) / k,
        state.pan.oy - (e.clientY - state.pan.y) / k);
      return;
    }
    if (!state.drag) return;
    if (state.drag.stroke) {
      const points = state.drag.stroke.points;
      const [x, y] = toImageExact(e);
      const [px, py] = points[points.length - 1];
      if (Math.hypot(x - px, y - py) >= Math.max(1, state.drag.stroke.radius / 3)) {
        points.push([Math.round(x * 10) / 10, Math.round(y * 10) / 10]);
        draw();
      }
      return;
    }
    const [x, y] = toImage(e);
    const [x0, y0] = state.drag.start;
    if (Math.abs(x - x0) + Math.abs(y - y0) > 4 / scale() + 2) state.drag.moved = true;
    if (state.drag.moved && state.drag.button === 0) {
      state.drag.rect = [Math.min(x0, x), Math.min(y0, y), Math.max(x0, x), Math.max(y0, y)];
      draw();
    }
  });
  window.addEventListener("mouseup", (e) => {
    const drag = state.drag;
    state.pan = state.drag = null;
    if (drag && drag.stroke) {
      if (!prompted()) { setStatus("click or drag a box first: strokes edit the model's mask", true); draw(); return; }
      push({ stroke: drag.stroke });
      return;
    }
    if (!drag || e.target !== canvas) { draw(); return; }
    if (drag.moved && drag.rect) {
      push({ box: drag.rect });
    } else {
      const [x, y] = drag.start;
      const negative = drag.button === 2 || drag.shift;
      push({ click: [x, y, negative ? 0 : 1] });
    }
  });
  canvas.addEventListener("wheel", (e) => {  // Zoom about the pointer.
    if (!state.entry) return;
    e.preventDefault();
    const [x, y] = toImageExact(e);
    const zoom = Math.min(64, Math.max(1, state.view.zoom * Math.exp(-e.deltaY / 300)));
    const r = canvas.getBoundingClientRect();
    const cx = ((e.clientX - r.left) * canvas.width) / r.width;
    const cy = ((e.clientY - r.top) * canvas.height) / r.height;
    const s = (canvas.width / state.entry.width) * zoom;
    setView(zoom, x - cx / s, y - cy / s);
  }, { passive: false });
}

function onKey(e) {
  if (typing(e.target) || e.target.tagName === "SELECT") return;
  const key = e.key.toLowerCase();
  const ctrl = e.ctrlKey || e.metaKey;
  const classKey = (state.config ? state.config.classes : []).find((c) => c.key === e.key);
  if (classKey && !ctrl) chooseClass(classKey.name);
  else if (key === "a") accept(e.shiftKey);
  else if (key === "o") runOracle();
  else if (key === "y" || (key === "z" && ctrl && e.shiftKey)) redo();
  else if (key === "u" || (key === "z" && ctrl)) undo();
  else if (key === "r") reset();
  else if (key === "s" && !ctrl) saveObject();
  else if (key === "n" && e.shiftKey) nextToDo();
  else if (key === "n") step(1);
  else if (key === "d") mark("done");
  else if (key === "k") mark("skipped");
  else if (key === "p") step(-1);
  else if (key === "b") setTool(state.tool === "brush" ? "prompt" : "brush");
  else if (key === "e") setTool(state.tool === "eraser" ? "prompt" : "eraser");
  else if (key === "escape" && state.oracleJob) cancelOracle();
  else if (key === "v" || key === "escape") setTool("prompt");
  else if (key === "f") fit();
  else if (key === "[" || key === "]") {
    $("radius").value = Math.max(1, Math.round(radius() * (key === "]" ? 1.25 : 0.8)));
  } else return;
  e.preventDefault();
}

function bind() {
  bindCanvas();
  window.addEventListener("keydown", onKey);
  $("upload").onchange = () => uploadFiles($("upload").files);
  window.addEventListener("dragover", (e) => {
    e.preventDefault();
    document.body.classList.add("dropping");
  });
  window.addEventListener("dragleave", () => document.body.classList.remove("dropping"));
  window.addEventListener("drop", (e) => {
    e.preventDefault();
    document.body.classList.remove("dropping");
    uploadFiles(e.dataTransfer.files);
  });
  $("save").onclick = saveObject;
  $("new-object").onclick = reset;
  $("accept").onclick = (e) => accept(e.shiftKey);
  $("oracle").onclick = runOracle;
  $("undo").onclick = undo;
  $("redo").onclick = redo;
  $("reset").onclick = reset;
  $("fit").onclick = fit;
  $("mark-done").onclick = () => mark("done");
  $("mark-skipped").onclick = () => mark("skipped");
  $("mark-todo").onclick = () => mark("todo");
  $("next-todo").onclick = nextToDo;
  $("auto-contrast").onclick = () => autoContrast(true);
  ["low", "high"].forEach((id) => { $(id).oninput = () => applyContrast(); });
  document.querySelectorAll("#tools button").forEach((b) => { b.onclick = () => setTool(b.dataset.tool); });
  document.querySelectorAll("button.export").forEach((b) => { b.onclick = () => download(b.dataset.href); });
  $("image").onchange = selectImage;
  $("truth").onchange = selectTruth;
  $("model").onchange = update;
  $("mask-rule").onchange = update;
  ["show-mask", "show-eig", "show-gt", "show-saved"].forEach((id) => { $(id).onchange = draw; });
  $("eig-absolute").onchange = rescaleEig;
  // A choice made, the keys are the page's again (a focused list would take A, N, S…).
  ["image", "truth", "model", "mask-rule", "show-mask", "show-eig", "show-gt", "show-saved",
    "eig-absolute", "radius",
    "low", "high"].forEach((id) => $(id).addEventListener("change", () => $(id).blur()));
  $("label").addEventListener("keydown", (e) => {  // Enter saves; S types an S here.
    if (e.key !== "Enter") return;
    e.preventDefault();
    $("label").blur();
    saveObject();
  });
}

// Contrast, for display only: a window LOW..HIGH of the gray levels stretched to 0..255.
function applyContrast() {
  const low = Number($("low").value), high = Math.max(low + 1, Number($("high").value));
  $("window").textContent = low + "–" + high;
  if (low === 0 && high === 255) { state.display = null; draw(); return; }
  const { canvas: c, context, data } = pixels(state.picture);
  const px = data.data;
  const k = 255 / (high - low);
  for (let i = 0; i < px.length; i += 4) {
    for (let j = 0; j < 3; j++) px[i + j] = Math.min(255, Math.max(0, (px[i + j] - low) * k));
  }
  context.putImageData(data, 0, 0);
  state.display = c;
  draw();
}

// The window from the 0.5th to the 99.5th percentile of the gray levels; `always`: also
// for an image of full range (the default applies it to dark images only).
function autoContrast(always) {
  const px = pixels(state.picture).data.data;
  const hist = new Array(256).fill(0);
  for (let i = 0; i < px.length; i += 4) hist[Math.round((px[i] + px[i + 1] + px[i + 2]) / 3)]++;
  const n = px.length / 4;
  const at = (q) => { let sum = 0; for (let v = 0; v < 256; v++) { sum += hist[v]; if (sum >= q * n) return v; } return 255; };
  const [low, high] = [at(0.005), at(0.995)];
  const dark = high < 128;
  [$("low").value, $("high").value] = always || dark ? [low, Math.max(low + 1, high)] : [0, 255];
  applyContrast();
}

// A download that says why it failed (a stale image, the server gone), not a silent link.
async function download(href) {
  setStatus("exporting…");
  try {
    let response;
    try { response = await fetch(href); } catch (e) {
      throw new Error("the server is not answering (is python -m experiments.serve running?)");
    }
    if (!response.ok) throw new Error((await response.json()).error || response.statusText);
    const name = (response.headers.get("Content-Disposition") || "").split("filename=")[1];
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await response.blob());
    link.download = (name || "annotations").replace(/"/g, "");
    link.click();
    URL.revokeObjectURL(link.href);
    setStatus("exported " + link.download);
  } catch (e) { setStatus("export: " + e.message, true); }
}

function chooseClass(name) {
  $("label").value = name;
  document.querySelectorAll("#classes button").forEach((b) => b.classList.toggle("on", b.dataset.name === name));
}

function showClasses(classes) {
  $("classes").innerHTML = "";
  $("label-list").innerHTML = "";
  classes.forEach((c) => {
    const b = document.createElement("button");
    b.dataset.name = c.name;
    b.style.borderLeft = "12px solid " + c.colour;
    b.textContent = (c.key ? c.key + " " : "") + c.name;
    b.onclick = () => chooseClass(c.name);
    $("classes").append(b);
    $("label-list").append(new Option(c.name, c.name));
  });
  if (state.config.fixed_classes && classes.length) chooseClass(classes[0].name);
}

// Whether keys typed on `element` are text (a label being typed), not shortcuts.
function typing(element) {
  if (!element) return false;
  if (element.tagName === "TEXTAREA") return true;
  return element.tagName === "INPUT" && !["checkbox", "radio", "button", "file"].includes(element.type);
}

function undo() { if (state.actions.length) { state.undone.push(state.actions.pop()); update(); } }
function redo() { if (state.undone.length) { state.actions.push(state.undone.pop()); update(); } }
function reset() { state.actions = []; state.undone = []; edit(null); update(); }

async function init() {
  bind();
  try {
    const config = await api("/api/config");
    config.models.forEach((m) => $("model").add(new Option(m, m)));
    Object.entries(config.mask_rules).forEach(([rule, meaning]) => {
      const option = new Option(rule, rule);
      option.title = meaning;
      $("mask-rule").add(option);
    });
    $("mask-rule").value = config.mask_rule;
    const bar = $("colorbar").getContext("2d");
    config.colormap.forEach(([r, g, b], i) => {
      bar.fillStyle = "rgb(" + r + "," + g + "," + b + ")";
      bar.fillRect(i, 0, 1, 12);
    });
    state.config = config;
    showClasses(config.classes);
    await refreshImages();
    await selectImage();
  } catch (e) {
    setStatus(e.message, true);
    document.body.dataset.state = "error";
  }
}

// Labelling: saved objects, navigation, upload.

// The image list with each image's number of saved objects, and the progress line.
async function refreshImages(select) {
  const current = select || $("image").value;
  state.images = await api("/api/images");
  $("image").innerHTML = "";
  state.images.forEach((e) => {
    const k = e.truths.length;
    const notes = (k > 1 ? " (" + k + " truths)" : k ? "" : " (no mask)") + (e.objects ? " · " + e.objects + " saved" : "") +
      (e.status === "todo" ? "" : " · " + e.status);
    $("image").add(new Option(e.name + notes, e.name));
  });
  if (state.images.some((e) => e.name === current)) $("image").value = current;
  const count = (f) => state.images.filter(f).length;
  const n = state.images.length;
  $("progress").textContent = count((e) => e.status === "done") + " of " + n + " done · " +
    count((e) => e.status === "skipped") + " skipped · " + count((e) => e.objects > 0) + " of " +
    n + " images have objects";
  const entry = state.images.find((e) => e.name === $("image").value);
  $("image-status").textContent = entry ? entry.status : "";
}

// Marks the shown image done or skipped (or to do again), then moves to the next one to do.
async function mark(status) {
  if (!state.entry) return;
  try {
    await api("/api/images", { image: state.entry.name, status }, "PATCH");
    await refreshImages();
    if (status !== "todo") nextToDo();
  } catch (e) { setStatus(e.message, true); }
}

// The next image after this one (wrapping) still to do with no saved object.
function nextToDo() {
  const names = state.images.map((e) => e.name);
  const from = names.indexOf($("image").value);
  for (let k = 1; k <= names.length; k++) {
    const e = state.images[(from + k) % names.length];
    if (e.status === "todo" && !e.objects) {
      $("image").value = e.name;
      selectImage();
      return;
    }
  }
  setStatus("every image is done, skipped or has objects");
}

function describePrompts(o) {
  const p = o.prompts, n = p.clicks.length, k = (o.strokes || []).length;
  return (p.box ? "box" + (n ? " + " : "") : "") + (n ? n + " click" + (n > 1 ? "s" : "") : "") +
    (k ? " + " + k + " stroke" + (k > 1 ? "s" : "") : "");
}

async function loadObjects() {
  const name = encodeURIComponent(state.entry.name);
  const answer = await api("/api/objects?image=" + name);
  state.objects = answer.objects;
  state.saved = await loadImage("/api/overlay?image=" + name + "&t=" + Date.now());
  const body = $("objects").tBodies[0];
  body.innerHTML = "";
  state.objects.forEach((o, i) => {
    const row = body.insertRow();
    row.dataset.id = o.id;
    if (state.editing && state.editing.id === o.id) row.className = "editing";
    // A stale object was saved on other pixels than the file holds now: shown, not drawn.
    const label = o.stale ? o.label + " (image changed: save again or delete)" : o.label;
    if (o.stale) row.classList.add("stale");
    const cells = [String(i + 1), label, String(o.area), describePrompts(o), fmt(o.predicted_iou),
      fmtEig(o.max_eig)];
    cells.forEach((text) => { row.insertCell().textContent = text; });
    const cell = row.insertCell();
    [["open", () => reopen(o)], ["rename", () => rename(o)], ["delete", () => remove(o)]]
      .forEach(([text, action]) => {
        const button = document.createElement("button");
        button.textContent = text;
        button.className = text;
        button.onclick = action;
        cell.append(button);
      });
  });
}

function edit(object) {
  if (!object && state.ruleBefore) {  // A reopened object's rule was for it alone.
    $("mask-rule").value = state.ruleBefore;
    state.ruleBefore = null;
  }
  state.editing = object;
  $("editing").textContent = object ? "editing saved object “" + object.label + "” (S saves it again)"
    : "a new object";
  document.querySelectorAll("#objects tbody tr").forEach((row) => {
    row.className = object && row.dataset.id === object.id ? "editing" : "";
  });
}

// A saved object's prompts back on the canvas: its undo history is its own prompts.
function reopen(object) {
  if ([...$("model").options].some((o) => o.value === object.model)) $("model").value = object.model;
  if (object.settings.mask_rule in state.config.mask_rules) {
    state.ruleBefore = state.ruleBefore || $("mask-rule").value;
    $("mask-rule").value = object.settings.mask_rule;
  }
  $("label").value = object.label;
  const scored = object.prompts.truth;  // The truth a control model was built from.
  if (scored !== undefined && scored !== truth()) {
    $("truth").value = scored;
    loadOutline().then(draw);
  }
  state.actions = [];
  state.history = [];
  if (object.prompts.box) state.actions.push({ box: object.prompts.box });
  object.prompts.clicks.forEach((c) => state.actions.push({ click: c }));
  (object.strokes || []).forEach((st) => state.actions.push({ stroke: st }));
  state.undone = [];
  edit(object);
  update();
}

async function saveObject() {
  if (!prompted() || document.body.dataset.state !== "ready") return;
  // Negative clicks alone tell the model where the object is not: its mask is a guess.
  const positive = state.actions.some((a) => a.box || (a.click && a.click[2] === 1));
  if (!positive && !window.confirm("Only negative clicks: the mask is the model's guess. Save it?")) return;
  document.body.dataset.state = "busy";
  setStatus("saving…");
  try {
    const body = { ...promptBody(), label: $("label").value };
    if (state.editing) body.id = state.editing.id;
    const saved = await api("/api/objects", body);
    state.actions = [];
    state.undone = [];
    edit(null);
    await Promise.all([loadObjects(), refreshImages()]);
    await update();
    setStatus("saved “" + saved.label + "” (" + saved.area + " pixels)");
  } catch (e) {
    setStatus(e.message, true);
    document.body.dataset.state = "ready";
  }
}

async function rename(object) {
  const label = window.prompt("Label of this object", object.label);
  if (label === null) return;
  try {
    await api("/api/objects", { image: state.entry.name, id: object.id, label }, "PATCH");
    if (state.editing && state.editing.id === object.id) $("label").value = label.trim();
    await loadObjects();
    draw();
  } catch (e) { setStatus(e.message, true); }
}

async function remove(object) {
  if (!window.confirm("Delete “" + object.label + "”?")) return;
  try {
    await api("/api/objects", { image: state.entry.name, id: object.id }, "DELETE");
    if (state.editing && state.editing.id === object.id) edit(null);
    await Promise.all([loadObjects(), refreshImages()]);
    draw();
  } catch (e) { setStatus(e.message, true); }
}

function step(delta) {
  const select = $("image");
  const i = select.selectedIndex + delta;
  if (i < 0 || i >= select.options.length || document.body.dataset.state === "loading") return;
  select.selectedIndex = i;
  selectImage();
}

const TYPES = { png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", tif: "image/tiff", tiff: "image/tiff" };

async function uploadFiles(files) {
  let last = null;
  for (const file of files) {
    const type = TYPES[file.name.split(".").pop().toLowerCase()];
    if (!type) { setStatus(file.name + ": upload a PNG, JPEG or TIFF image", true); continue; }
    if (file.size > state.config.max_upload_bytes) {
      const limit = (state.config.max_upload_bytes / 2 ** 20).toFixed(0);
      setStatus(file.name + ": " + (file.size / 2 ** 20).toFixed(1) + " MiB, over the limit of " + limit + " MiB", true);
      continue;
    }
    setStatus("uploading " + file.name + "…");
    try {
      const response = await fetch("/api/upload?name=" + encodeURIComponent(file.name), {
        method: "POST", headers: { "Content-Type": type }, body: file,
      });
      const answer = await response.json();
      if (!response.ok) throw new Error(answer.error || response.statusText);
      last = answer.name;
    } catch (e) {  // The server's message names the file already; the page's own do not.
      setStatus(e.message.startsWith(file.name + ":") ? e.message : file.name + ": " + e.message, true);
    }
  }
  $("upload").value = "";
  if (last) {
    await refreshImages(last);
    await selectImage();
  }
}

init();
