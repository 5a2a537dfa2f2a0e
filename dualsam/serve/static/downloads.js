// Downloads of the kept masks: all of them as COCO JSON (RLE), the selected ones as one black-and-white PNG.
import { decodePng } from "./drawing.js";
import { state } from "./state.js";

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

export function downloadCoco() {
  save(new Blob([JSON.stringify(cocoJson())], { type: "application/json" }), `${stem()}_masks_coco.json`);
}

export async function downloadPng() {
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
