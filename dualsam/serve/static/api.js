// The server: JSON calls whose errors become ApiError (the server's one-line detail and code), and the image's
// upload, made again when the server has evicted it from its cache.
import { status } from "./dom.js";
import { state } from "./state.js";

export class ApiError extends Error {
  constructor(status, code, detail) { super(detail); this.status = status; this.code = code; }
}

export async function api(path, options) {
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

export async function upload(file) {
  const form = new FormData();
  form.append("file", file, file.name || "image");
  const info = await api("/api/images", { method: "POST", body: form });
  state.imageId = info.image_id;
  state.width = info.width;
  state.height = info.height;
  return info;
}

// Runs fn(); when the server forgot the image (evicted from its cache), uploads it again and retries once.
export async function withImage(fn) {
  try {
    return await fn();
  } catch (error) {
    if (error.code !== "image_not_found" || !state.file) throw error;
    status("the server evicted this image: uploading it again…");
    await upload(state.file);
    return await fn();
  }
}
