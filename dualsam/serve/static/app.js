// dualsam serve: the click-to-segment page. Plain JavaScript, no build step, nothing loaded from elsewhere.
// The image is uploaded once (the server keeps its embedding); each click sends only the prompts.
"use strict";

const PALETTE = [[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
  [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207]];
const CURRENT_COLOR = [30, 144, 255];
const MASK_ALPHA = 120;
const DRAG_PIXELS = 6;  // a press that moves farther than this (screen pixels) is a box, not a click
const POLL_MS = 300;

const $ = (id) => document.getElementById(id);

// Everything the page knows; exposed as window.dualsam for tests and curious users.
const state = {
  file: null, name: "", imageId: null, width: 0, height: 0, maxUploadBytes: null,
  points: [], labels: [], box: null, history: [],
  candidates: [], chosen: 0, segmentCount: 0,
  masks: [], nextMaskId: 1, busy: 0,
};
window.dualsam = state;

// ------------------------------------------------------------------ messages
function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
}
function clearError() { $("error").hidden = true; }
function status(message) { $("status").textContent = message; }

class ApiError extends Error {
  constructor(status, code, detail) { super(detail); this.status = status; this.code = code; }
}

async function api(path, options) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (error) {
    throw new ApiError(0, "unreachable", "cannot reach the dualsam server: is it still running?");
  }
  let body = null;
  try { body = await response.json(); } catch (error) { body = null; }
  if (!response.ok) {
    const detail = body && body.detail ? body.detail : `HTTP ${response.status}`;
    throw new ApiError(response.status, body && body.code ? body.code : "http_error", detail);
  }
  return body;
}

// ------------------------------------------------------------------ image input
async function openFile(file) {
  clearError();
  if (!file) return;
  if (file.type && !file.type.startsWith("image/")) {
    showError(`${file.name} is not an image (${file.type})`);
    return;
  }
  if (state.maxUploadBytes !== null && file.size > state.maxUploadBytes) {
    const mib = (n) => (n / 1048576).toFixed(1);
    showError(`${file.name} is too large: ${mib(file.size)} MiB, the server accepts up to ${mib(state.maxUploadBytes)} MiB`);
    return;
  }
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch (error) {
    showError(`cannot open ${file.name}: the browser cannot decode it as an image`);
    return;
  }
  try {
    status(`uploading and encoding ${file.name}…`);
    const info = await upload(file);
    state.file = file;
    state.name = file.name || "image";
    resetPrompts();
    state.masks = [];
    showImage(bitmap, info);
    status(`${state.name}: ${info.width}×${info.height}, encoded in ${info.embed_ms} ms${info.cached ? " (cached)" : ""}`);
  } catch (error) {
    showError(error.message);
    status("");
  }
}

async function upload(file) {
  const form = new FormData();
  form.append("file", file, file.name || "image");
  const info = await api("/api/images", { method: "POST", body: form });
  state.imageId = info.image_id;
  state.width = info.width;
  state.height = info.height;
  return info;
}

function showImage(bitmap, info) {
  for (const canvas of document.querySelectorAll("#stage canvas")) {
    canvas.width = info.width;
    canvas.height = info.height;
  }
  $("image").getContext("2d").drawImage(bitmap, 0, 0, info.width, info.height);
  $("stage").hidden = false;
  $("hint").hidden = true;
  fitStage();
  $("everything").disabled = false;
  drawAll();
}

// Shows the image as large as the column allows, and no taller than most of the window.
function fitStage() {
  if (!state.width) return;
  const available = $("drop").clientWidth - 24;
  const scale = Math.min(available / state.width, (0.8 * window.innerHeight) / state.height);
  $("stage").style.width = `${Math.max(1, Math.floor(state.width * scale))}px`;
  drawPrompts();
}

// Runs fn(); when the server forgot the image (evicted from its cache), uploads it again and retries once.
async function withImage(fn) {
  try {
    return await fn();
  } catch (error) {
    if (error.code !== "image_not_found" || !state.file) throw error;
    status("the server evicted this image: uploading it again…");
    await upload(state.file);
    return await fn();
  }
}

// ------------------------------------------------------------------ prompts
function resetPrompts() {
  state.points = [];
  state.labels = [];
  state.box = null;
  state.history = [];
  state.candidates = [];
  state.chosen = 0;
}

function toImage(event) {
  const rect = $("prompts").getBoundingClientRect();
  const x = ((event.clientX - rect.left) * state.width) / rect.width;
  const y = ((event.clientY - rect.top) * state.height) / rect.height;
  return [Math.min(Math.max(x, 0), state.width), Math.min(Math.max(y, 0), state.height)];
}

let press = null;
function onPointerDown(event) {
  if (!state.imageId || (event.button !== 0 && event.button !== 2)) return;
  event.preventDefault();
  press = { x: event.clientX, y: event.clientY, start: toImage(event), button: event.button, shift: event.shiftKey };
}
function onPointerMove(event) {
  if (!press) return;
  if (Math.hypot(event.clientX - press.x, event.clientY - press.y) > DRAG_PIXELS) {
    press.dragging = true;
    drawPrompts(boxFrom(press.start, toImage(event)));
  }
}
function onPointerUp(event) {
  if (!press) return;
  const done = press;
  press = null;
  if (done.dragging) {
    const box = boxFrom(done.start, toImage(event));
    if (box[2] - box[0] >= 1 && box[3] - box[1] >= 1) {
      state.history.push({ kind: "box", previous: state.box });
      state.box = box;
    }
  } else {
    const negative = done.button === 2 || done.shift;
    state.points.push(done.start);
    state.labels.push(negative ? 0 : 1);
    state.history.push({ kind: "point" });
  }
  promptsChanged();
}
function boxFrom(a, b) {
  return [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[0], b[0]), Math.max(a[1], b[1])];
}

function undo() {
  const last = state.history.pop();
  if (!last) return;
  if (last.kind === "point") {
    state.points.pop();
    state.labels.pop();
  } else {
    state.box = last.previous;
  }
  promptsChanged();
}
function clearPrompts() {
  resetPrompts();
  promptsChanged();
}

let requestSerial = 0;
async function promptsChanged() {
  updateButtons();
  drawPrompts();
  if (!state.points.length && !state.box) {
    state.candidates = [];
    drawAll();
    return;
  }
  const serial = ++requestSerial;
  const body = { multimask: true };
  if (state.points.length) {
    body.points = state.points;
    body.labels = state.labels;
  }
  if (state.box) body.box = state.box;
  try {
    state.busy += 1;
    const reply = await withImage(() => api(`/api/images/${state.imageId}/segment`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    }));
    if (serial !== requestSerial) return;  // a later click has been sent meanwhile
    clearError();
    state.candidates = reply.masks;
    state.chosen = reply.best;
    state.segmentCount += 1;
    status(`mask decoded in ${reply.decode_ms} ms`);
    await drawCurrent();
  } catch (error) {
    if (serial === requestSerial) showError(error.message);
  } finally {
    state.busy -= 1;
    updateButtons();
  }
}

// ------------------------------------------------------------------ drawing
const maskCache = new Map();  // png data URL -> (H, W) Uint8Array of 0/1

function decodePng(url) {
  if (maskCache.has(url)) return Promise.resolve(maskCache.get(url));
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => {
      const canvas = document.createElement("canvas");
      canvas.width = image.width;
      canvas.height = image.height;
      const context = canvas.getContext("2d");
      context.drawImage(image, 0, 0);
      const rgba = context.getImageData(0, 0, image.width, image.height).data;
      const bits = new Uint8Array(image.width * image.height);
      for (let i = 0; i < bits.length; i++) bits[i] = rgba[4 * i] > 127 ? 1 : 0;
      maskCache.set(url, bits);
      resolve(bits);
    };
    image.onerror = () => reject(new Error("cannot decode a mask PNG"));
    image.src = url;
  });
}

function paint(canvas, layers) {
  const context = canvas.getContext("2d");
  const out = context.createImageData(canvas.width, canvas.height);
  for (const [bits, color] of layers) {
    for (let i = 0; i < bits.length; i++) {
      if (!bits[i]) continue;
      out.data[4 * i] = color[0];
      out.data[4 * i + 1] = color[1];
      out.data[4 * i + 2] = color[2];
      out.data[4 * i + 3] = MASK_ALPHA;
    }
  }
  context.putImageData(out, 0, 0);
}

async function drawCurrent() {
  const canvas = $("current-mask");
  const mask = state.candidates[state.chosen];
  paint(canvas, mask ? [[await decodePng(mask.png), CURRENT_COLOR]] : []);
  renderCandidates();
}

async function drawKept() {
  const layers = [];
  for (const mask of state.masks) {
    if (mask.visible) layers.push([await decodePng(mask.png), mask.color]);
  }
  paint($("kept-masks"), layers);
}

function drawPrompts(dragBox) {
  const canvas = $("prompts");
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  const rect = canvas.getBoundingClientRect();
  const scale = rect.width ? canvas.width / rect.width : 1;  // image pixels per screen pixel
  const box = dragBox || state.box;
  if (box) {
    context.lineWidth = 4 * scale;
    context.strokeStyle = "#fff";
    context.strokeRect(box[0], box[1], box[2] - box[0], box[3] - box[1]);
    context.lineWidth = 2 * scale;
    context.strokeStyle = "rgb(0,120,255)";
    context.strokeRect(box[0], box[1], box[2] - box[0], box[3] - box[1]);
  }
  state.points.forEach(([x, y], i) => {
    const r = 6 * scale;
    if (state.labels[i] === 1) {
      context.beginPath();
      context.arc(x, y, r, 0, 2 * Math.PI);
      context.fillStyle = "rgb(0,200,0)";
      context.fill();
      context.lineWidth = 2 * scale;
      context.strokeStyle = "#fff";
      context.stroke();
    } else {
      for (const [width, color] of [[5 * scale, "#fff"], [2.5 * scale, "rgb(230,0,0)"]]) {
        context.lineWidth = width;
        context.strokeStyle = color;
        context.beginPath();
        context.moveTo(x - r, y - r); context.lineTo(x + r, y + r);
        context.moveTo(x + r, y - r); context.lineTo(x - r, y + r);
        context.stroke();
      }
    }
  });
}

function drawAll() {
  drawPrompts();
  drawCurrent();
  drawKept();
  renderMasks();
  updateButtons();
}

// ------------------------------------------------------------------ candidates and the mask list
function renderCandidates() {
  const holder = $("candidates");
  holder.textContent = "";
  if (!state.candidates.length) {
    holder.innerHTML = '<span class="muted">no mask yet</span>';
    return;
  }
  state.candidates.forEach((mask, i) => {
    const button = document.createElement("button");
    button.textContent = `#${i + 1}  ${mask.score.toFixed(3)}`;
    button.title = `area ${mask.area} px`;
    button.className = i === state.chosen ? "chosen" : "";
    button.dataset.index = i;
    button.addEventListener("click", () => { state.chosen = i; drawCurrent(); });
    holder.appendChild(button);
  });
}

function addMask(mask) {
  const color = PALETTE[(state.nextMaskId - 1) % PALETTE.length];
  state.masks.push({ ...mask, id: state.nextMaskId++, color, visible: true, selected: true });
}

function keepMask() {
  const mask = state.candidates[state.chosen];
  if (!mask) return;
  const [x1, y1, x2, y2] = mask.box || [0, 0, 0, 0];
  addMask({
    source: "click", rle: mask.rle, png: mask.png, area: mask.area, score: mask.score,
    bbox: [x1, y1, x2 - x1, y2 - y1],
  });
  resetPrompts();
  drawAll();
}

function renderMasks() {
  const list = $("masks");
  list.textContent = "";
  state.masks.forEach((mask) => {
    const item = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = `rgb(${mask.color.join(",")})`;
    const visible = document.createElement("input");
    visible.type = "checkbox";
    visible.checked = mask.visible;
    visible.title = "show";
    visible.addEventListener("change", () => { mask.visible = visible.checked; drawKept(); });
    const selected = document.createElement("input");
    selected.type = "checkbox";
    selected.checked = mask.selected;
    selected.title = "select for the PNG download";
    selected.addEventListener("change", () => { mask.selected = selected.checked; updateButtons(); });
    const label = document.createElement("span");
    label.className = "grow";
    label.textContent = `${mask.source} #${mask.id}: ${mask.area} px, ${mask.score.toFixed(3)}`;
    const link = document.createElement("a");
    link.href = mask.png;
    link.download = `mask_${mask.id}.png`;
    link.textContent = "PNG";
    item.append(swatch, visible, label, selected, link);
    list.appendChild(item);
  });
}

function updateButtons() {
  $("undo").disabled = !state.history.length;
  $("clear").disabled = !state.history.length;
  $("keep").disabled = !state.candidates.length;
  $("download-coco").disabled = !state.masks.length;
  $("download-png").disabled = !state.masks.some((m) => m.selected);
}

// ------------------------------------------------------------------ segment everything
async function segmentEverything() {
  clearError();
  const button = $("everything");
  const bar = $("progress");
  button.disabled = true;
  bar.hidden = false;
  bar.value = 0;
  try {
    let job = await withImage(() => api(`/api/images/${state.imageId}/generate`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: "{}",
    }));
    status("segmenting everything…");
    while (job.status === "queued" || job.status === "running") {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      job = await api(`/api/jobs/${job.job_id}`);
      bar.value = job.progress;
    }
    if (job.status === "failed") throw new Error(`segment everything failed: ${job.error}`);
    for (const mask of job.masks) {
      addMask({ source: "auto", rle: mask.rle, png: mask.png, area: mask.area, score: mask.predicted_iou,
        bbox: mask.bbox });
    }
    status(`segment everything: ${job.masks.length} masks in ${job.elapsed_s} s`);
    drawAll();
  } catch (error) {
    showError(error.message);
  } finally {
    button.disabled = false;
    bar.hidden = true;
  }
}

// ------------------------------------------------------------------ downloads
function save(blob, name) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

function stem() { return (state.name || "image").replace(/\.[^.]*$/, ""); }

function cocoJson() {
  return {
    info: { description: "dualsam serve", date_created: new Date().toISOString() },
    images: [{ id: 1, file_name: state.name, width: state.width, height: state.height }],
    categories: [{ id: 1, name: "object" }],
    annotations: state.masks.map((mask, i) => ({
      id: i + 1, image_id: 1, category_id: 1, segmentation: mask.rle, area: mask.area, bbox: mask.bbox,
      iscrowd: 0, score: mask.score,
    })),
  };
}

function downloadCoco() {
  save(new Blob([JSON.stringify(cocoJson())], { type: "application/json" }), `${stem()}_masks_coco.json`);
}

async function downloadPng() {
  const chosen = state.masks.filter((m) => m.selected);
  const canvas = document.createElement("canvas");
  canvas.width = state.width;
  canvas.height = state.height;
  const context = canvas.getContext("2d");
  const out = context.createImageData(state.width, state.height);
  for (const mask of chosen) {
    const bits = await decodePng(mask.png);
    for (let i = 0; i < bits.length; i++) {
      if (bits[i]) out.data[4 * i] = out.data[4 * i + 1] = out.data[4 * i + 2] = 255;
    }
  }
  for (let i = 3; i < out.data.length; i += 4) out.data[i] = 255;
  context.putImageData(out, 0, 0);
  canvas.toBlob((blob) => save(blob, `${stem()}_masks.png`), "image/png");
}

// ------------------------------------------------------------------ wiring
function wire() {
  $("file").addEventListener("change", (event) => openFile(event.target.files[0]));
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    openFile(event.dataTransfer.files[0]);
  });
  const prompts = $("prompts");
  prompts.addEventListener("pointerdown", onPointerDown);
  window.addEventListener("pointermove", onPointerMove);
  window.addEventListener("pointerup", onPointerUp);
  prompts.addEventListener("contextmenu", (event) => event.preventDefault());
  $("undo").addEventListener("click", undo);
  $("clear").addEventListener("click", clearPrompts);
  $("keep").addEventListener("click", keepMask);
  $("everything").addEventListener("click", segmentEverything);
  $("download-coco").addEventListener("click", downloadCoco);
  $("download-png").addEventListener("click", downloadPng);
  window.addEventListener("resize", fitStage);
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === "z") { event.preventDefault(); undo(); }
  });
}

async function connect() {
  try {
    const health = await api("/api/health");
    state.maxUploadBytes = health.max_upload_bytes;
    $("model").textContent = `model ${health.model.spec} on ${health.model.backend}`;
  } catch (error) {
    $("model").textContent = "not connected";
    showError(error.message);
  }
}

wire();
connect();
