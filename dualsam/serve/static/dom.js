// The page's elements and its two message lines: the error box and the status line.

export const $ = (id) => document.getElementById(id);

export function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
}
export function clearError() { $("error").hidden = true; }
export function status(message) { $("status").textContent = message; }
