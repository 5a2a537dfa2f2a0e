// The prompts: a click adds a positive point (shift-click or right-click a negative one), a drag sets the box;
// undo and clear; each change asks the server for the masks of all the prompts at once.
import { api, withImage } from "./api.js";
import { $, clearError, showError, status } from "./dom.js";
import { drawPrompts } from "./drawing.js";
import { drawAll, drawCurrent, updateButtons } from "./masks.js";
import { resetPrompts, state } from "./state.js";

const DRAG_PIXELS = 6;  // a press that moves farther than this (screen pixels) is a box, not a click

function toImage(event) {
  const rect = $("prompts").getBoundingClientRect();
  const x = ((event.clientX - rect.left) * state.width) / rect.width;
  const y = ((event.clientY - rect.top) * state.height) / rect.height;
  return [Math.min(Math.max(x, 0), state.width), Math.min(Math.max(y, 0), state.height)];
}

let press = null;
export function onPointerDown(event) {
  if (!state.imageId || (event.button !== 0 && event.button !== 2)) return;
  event.preventDefault();
  press = { x: event.clientX, y: event.clientY, start: toImage(event), button: event.button, shift: event.shiftKey };
}
export function onPointerMove(event) {
  if (!press) return;
  if (Math.hypot(event.clientX - press.x, event.clientY - press.y) > DRAG_PIXELS) {
    press.dragging = true;
    drawPrompts(boxFrom(press.start, toImage(event)));
  }
}
export function onPointerUp(event) {
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

export function undo() {
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
export function clearPrompts() {
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
