// Everything the page knows; exposed as window.dualsam for tests and curious users.

export const state = {
  file: null, name: "", imageId: null, width: 0, height: 0, maxUploadBytes: null,
  points: [], labels: [], box: null, history: [],
  candidates: [], chosen: 0, segmentCount: 0,
  masks: [], nextMaskId: 1, busy: 0,
};
window.dualsam = state;

// Forgets the prompts, their undo history and their candidate masks (the image and the kept masks stay).
export function resetPrompts() {
  state.points = [];
  state.labels = [];
  state.box = null;
  state.history = [];
  state.candidates = [];
  state.chosen = 0;
}
