"""The PyTorch side of ``sam_core.backend.PredictionBackend``: runs a SamModel on numpy inputs for the predictor,
the mask generator, evaluation and verification (mirrors ``sam_tf/backend.py``).

transformers' SamModel has the same API, so ``ModelBackend(transformers_model)`` works too.

Shape legend: B images, P prompts, N points per prompt, K masks per prompt, C embedding channels, g embedding
grid, L low-res mask side (4 g), S input side.
"""

from __future__ import annotations

import threading
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import torch

from sam_core.backend import SlicedDecoding
from sam_core.validation import check_prompt_values


class ModelBackend(SlicedDecoding):
    """Runs a torch SAM model's image encoder and mask decoder on numpy inputs, without autograd (decode: in prompt
    slices, see sam_core.backend.SlicedDecoding).

    Args:
        model: a sam_torch.SamModel (or transformers' SamModel).

    Attributes:
        image_size: S, the model's input side.
        low_res_size: L, the side of the decoder's mask logits and of mask inputs.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        vision = model.config.vision_config
        self.image_size = int(vision.image_size)
        self.low_res_size = 4 * (int(vision.image_size) // int(vision.patch_size))  # transformers configs too

    def _to_native(self, array: np.ndarray | None) -> torch.Tensor | None:
        """numpy -> a tensor on the model's device (floats in the model's dtype)."""
        if array is None:
            return None
        parameter = next(iter(self.model.parameters()))
        tensor = torch.from_numpy(np.ascontiguousarray(array))
        dtype = parameter.dtype if tensor.is_floating_point() else None
        return tensor.to(device=parameter.device, dtype=dtype)

    def embed(self, pixel_values: np.ndarray) -> torch.Tensor:
        """(B, 3, S, S) float32 pixel values -> (B, C, g, g) image embeddings."""
        with torch.no_grad():
            return self.model.get_image_embeddings(self._to_native(pixel_values))

    def repeat_embeddings(self, embeddings: torch.Tensor, count: int) -> torch.Tensor:
        """(1, C, g, g) embeddings -> (count, C, g, g)."""
        if count == 1:
            return embeddings
        return embeddings.expand(count, *embeddings.shape[1:]).contiguous()

    def _decode_once(
        self,
        embeddings: torch.Tensor,
        *,
        points: np.ndarray | None,
        labels: np.ndarray | None,
        boxes: np.ndarray | None,
        masks: np.ndarray | None,
        multimask_output: bool,
    ) -> tuple[np.ndarray, np.ndarray]:
        """One call of the model on (B, P', ...) prompts, in inference mode (its outputs leave as numpy, so no
        tensor of it meets autograd again; ~15% less per-op overhead than no_grad on a click): eagerly the first
        times, then as a traced graph (see ModelGraphs)."""
        inputs = {
            "input_points": None if points is None else points.astype(np.float32),
            "input_labels": None if labels is None else labels.astype(np.int64),
            "input_boxes": None if boxes is None else boxes.astype(np.float32),
            "input_masks": None if masks is None else masks.astype(np.float32),
        }
        check_prompt_values(input_points=points, input_labels=labels, input_boxes=boxes)  # a trace cannot check them
        with torch.inference_mode():
            tensors = [self._to_native(value) for value in inputs.values() if value is not None]
            names = tuple(name for name, value in inputs.items() if value is not None)
            run = ModelGraphs.of(self.model).get(names, bool(multimask_output), embeddings, tensors)
            with torch.jit.optimized_execution(False):  # this thread only; see ModelGraphs
                pred_masks, iou_scores = run(embeddings, *tensors)
        logits = pred_masks.detach().float().cpu().numpy()
        return logits, iou_scores.detach().float().cpu().numpy()


#: Calls of a kind and shape that ModelGraphs runs eagerly before tracing it.
EAGER_CALLS = 20
#: Traces ModelGraphs keeps per model (least recently used dropped first).
MAX_GRAPHS = 16


class ModelGraphs:
    """A model's prompt encoder + mask decoder call as TorchScript traces, one per kind of call (which prompt
    inputs are given, one or three masks) and shape, shared by every backend of the model (mirrors
    ``sam_tf.backend.ModelGraphs``, whose ``get`` needs no input tensors: a tf.function traces once for unknown
    batch, prompt and point counts, a torch trace is specialized to its shapes; the image encoder stays eager here,
    its large products leaving no Python overhead to cut, where Keras traces it too).

    An eager decoder call of a small model is mostly Python dispatch of small ops, holding the GIL: the default
    model's call takes ~3.2 ms at one thread, and two threads together reach only 1.15x one thread's calls/s. Its
    trace runs in ~2.2 ms with the GIL released (two threads 1.9x), to the same outputs bit for bit. A trace
    (~0.2 s) is specialized to its input shapes, so a kind and shape of call runs eagerly EAGER_CALLS times (a few
    predictions, a CLI call, do not pay it) and is then traced. Traces run without TorchScript's profiling
    optimizer (``torch.jit.optimized_execution(False)``, thread-local): on the CPU it changes nothing after its
    first two calls, which it makes 15-30x slower (74 and 38 ms against 2.5). TorchScript is deprecated (torch 2.13
    warns) but shipped; torch.compile needs a C++ toolchain and seconds per shape, torch.export runs its graph op by
    op in Python again.
    Should tracing fail (an op it cannot trace, a torch without it), that kind of call stays eager, with a warning.

    The traces share the model's parameters (in-place updates, ``load_state_dict`` reach them); the key holds the
    parameters' storage and dtype (and the inputs' device), so a model moved, cast or given new parameter tensors is
    traced anew.
    Only sam_torch's SamModel is traced, outside autocast; other models (transformers' SamModel) run eagerly.

    Args:
        model: the torch SAM model; held weakly.
    """

    _by_model: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
    _lock = threading.Lock()

    def __init__(self, model: torch.nn.Module) -> None:
        self._model = weakref.ref(model)
        self._graphs: OrderedDict[tuple, Callable[..., tuple]] = OrderedDict()
        self._calls: dict[tuple, int] = {}
        self._slots: tuple[tuple, list[tuple[dict, str]]] | None = None
        from .modeling import SamModel

        self._traceable = isinstance(model, SamModel)

    @classmethod
    def of(cls, model: torch.nn.Module) -> ModelGraphs:
        with cls._lock:
            if model not in cls._by_model:
                cls._by_model[model] = cls(model)
            return cls._by_model[model]

    def _parameters_key(self) -> tuple:
        """Where the decoder's parameters and buffers live: (storage, dtype) of each, in module order (rebuilt when
        one of the model's three decoder-side parts is replaced)."""
        model = self._model()
        parts = (model.shared_image_embedding, model.prompt_encoder, model.mask_decoder)
        if self._slots is None or any(a is not b for a, b in zip(parts, self._slots[0])):
            slots = [
                (tensors, name)
                for part in parts
                for module in part.modules()
                for tensors in (module._parameters, module._buffers)
                for name, tensor in tensors.items()
                if tensor is not None
            ]
            self._slots = (parts, slots)
        return tuple((tensors[name].data_ptr(), tensors[name].dtype) for tensors, name in self._slots[1])

    def get(
        self, names: tuple[str, ...], multimask_output: bool, embeddings: torch.Tensor, tensors: list[torch.Tensor]
    ) -> Callable[..., tuple]:
        """The call for inputs ``names`` (``tensors``, in order, after the embeddings) returning (pred_masks,
        iou_scores)."""
        eager = lambda *inputs: self._call(names, multimask_output, *inputs)  # noqa: E731
        if not self._traceable or torch.is_autocast_enabled(embeddings.device.type):
            return eager
        model = self._model()
        shapes = tuple((tuple(t.shape), t.dtype, t.device) for t in (embeddings, *tensors))
        key = (names, multimask_output, shapes, model.training, self._parameters_key())
        with self._lock:
            graph = self._graphs.get(key)
            if graph is not None:
                self._graphs.move_to_end(key)
                return graph
            self._calls[key] = self._calls.get(key, 0) + 1
            if self._calls[key] != EAGER_CALLS + 1:
                return eager  # not yet, or another thread is tracing it meanwhile
        graph = self._trace(names, multimask_output, embeddings, tensors)
        with self._lock:
            del self._calls[key]
            self._graphs[key] = graph
            while len(self._graphs) > MAX_GRAPHS:
                self._graphs.popitem(last=False)
        return graph

    def _trace(
        self, names: tuple[str, ...], multimask_output: bool, embeddings: torch.Tensor, tensors: list[torch.Tensor]
    ) -> Callable[..., tuple]:
        call = _DecoderCall(self._model(), names, multimask_output)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shape branches: the key holds the shapes
                warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript's; see the class docstring
                return torch.jit.trace(call, (embeddings, *tensors), check_trace=False)
        except (AttributeError, RuntimeError) as error:  # a torch without TorchScript, or an op it cannot trace
            warnings.warn(f"decoder calls stay eager: tracing failed ({error})", RuntimeWarning, stacklevel=3)
            return lambda *inputs: self._call(names, multimask_output, *inputs)  # the eager call, kept

    def _call(self, names: tuple[str, ...], multimask_output: bool, embeddings, *tensors) -> tuple:
        return _decoder_outputs(self._model(), names, multimask_output, embeddings, *tensors)


class _DecoderCall(torch.nn.Module):
    """``model(image_embeddings, **inputs)`` -> (pred_masks, iou_scores): the module ModelGraphs traces."""

    def __init__(self, model: torch.nn.Module, names: tuple[str, ...], multimask_output: bool) -> None:
        super().__init__()
        self.model = model
        self.names = names
        self.multimask_output = multimask_output

    def forward(self, embeddings: torch.Tensor, *tensors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return _decoder_outputs(self.model, self.names, self.multimask_output, embeddings, *tensors)


def _decoder_outputs(
    model: torch.nn.Module, names: tuple[str, ...], multimask_output: bool, embeddings: torch.Tensor, *tensors
) -> tuple[torch.Tensor, torch.Tensor]:
    """(pred_masks, iou_scores) of ``model(image_embeddings=embeddings, **dict(zip(names, tensors)))``: the eager
    call and the traced one."""
    outputs = model(image_embeddings=embeddings, **dict(zip(names, tensors)), multimask_output=multimask_output)
    return outputs.pred_masks, outputs.iou_scores
