// "Segment everything": the server's mask generator as a job, polled with a progress bar; its masks join the list.
import { api, withImage } from "./api.js";
import { $, clearError, showError, status } from "./dom.js";
import { addMask, drawAll } from "./masks.js";
import { state } from "./state.js";

const POLL_MS = 300;

export async function segmentEverything() {
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
