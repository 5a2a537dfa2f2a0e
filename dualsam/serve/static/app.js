// dualsam serve: the click-to-segment page, the entry module. Plain JavaScript modules, no build step, nothing
// loaded from elsewhere. The image is uploaded once (the server keeps its embedding); each click sends only the
// prompts. This module opens images, connects to the server and wires the page's controls to the other modules.
import { api, upload } from "./api.js";
import { $, clearError, showError, status } from "./dom.js";
import { downloadCoco, downloadPng } from "./downloads.js";
import { fitStage } from "./drawing.js";
import { segmentEverything } from "./everything.js";
import { drawAll, keepMask } from "./masks.js";
import { clearPrompts, onPointerDown, onPointerMove, onPointerUp, undo } from "./prompts.js";
import { resetPrompts, state } from "./state.js";

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
