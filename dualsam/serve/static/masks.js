// The masks: the current prompts' candidates (one chosen, drawn), the list of kept masks (each with its colour,
// visibility and selection), the buttons that depend on them, and drawing the whole page again.
import { $ } from "./dom.js";
import { CURRENT_COLOR, decodePng, drawKept, drawPrompts, paint } from "./drawing.js";
import { resetPrompts, state } from "./state.js";

const PALETTE = [[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
  [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207]];

export async function drawCurrent() {
  const canvas = $("current-mask");
  const mask = state.candidates[state.chosen];
  paint(canvas, mask ? [[await decodePng(mask.png), CURRENT_COLOR]] : []);
  renderCandidates();
}

export function drawAll() {
  drawPrompts();
  drawCurrent();
  drawKept();
  renderMasks();
  updateButtons();
}

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

// mask: {source, rle, png, area, score, bbox (x, y, w, h)}; kept with the next colour, shown and selected.
export function addMask(mask) {
  const color = PALETTE[(state.nextMaskId - 1) % PALETTE.length];
  state.masks.push({ ...mask, id: state.nextMaskId++, color, visible: true, selected: true });
}

export function keepMask() {
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

export function updateButtons() {
  $("undo").disabled = !state.history.length;
  $("clear").disabled = !state.history.length;
  $("keep").disabled = !state.candidates.length;
  $("download-coco").disabled = !state.masks.length;
  $("download-png").disabled = !state.masks.some((m) => m.selected);
}
