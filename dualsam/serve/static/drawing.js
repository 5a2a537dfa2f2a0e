// The canvases: mask PNGs decoded to 0/1 pixels, masks painted in colour, the prompts (points, box) drawn on top,
// and the stage fitted to the window.
import { $ } from "./dom.js";
import { state } from "./state.js";

export const CURRENT_COLOR = [30, 144, 255];
const MASK_ALPHA = 120;

const maskCache = new Map();  // png data URL -> (H, W) Uint8Array of 0/1

export function decodePng(url) {
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

// Paints layers ([bits, [r, g, b]], later on top) over a cleared canvas.
export function paint(canvas, layers) {
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

export async function drawKept() {
  const layers = [];
  for (const mask of state.masks) {
    if (mask.visible) layers.push([await decodePng(mask.png), mask.color]);
  }
  paint($("kept-masks"), layers);
}

// Draws the points and the box (or dragBox, the box being dragged) at a constant size on screen.
export function drawPrompts(dragBox) {
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

// Shows the image as large as the column allows, and no taller than most of the window.
export function fitStage() {
  if (!state.width) return;
  const available = $("drop").clientWidth - 24;
  const scale = Math.min(available / state.width, (0.8 * window.innerHeight) / state.height);
  $("stage").style.width = `${Math.max(1, Math.floor(state.width * scale))}px`;
  drawPrompts();
}
