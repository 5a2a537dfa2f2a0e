"""The torch ModelBackend's traced decoder calls (sam_torch.backend.ModelGraphs): after EAGER_CALLS eager calls of a
kind and shape, a TorchScript trace that gives the eager outputs bit for bit, follows the model's parameters, checks
prompt values, and is bounded in number."""

from __future__ import annotations

import gc
import threading
import weakref

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sam_torch import SamModel, backend  # noqa: E402
from tests.helpers.sam_weights import tiny_config  # noqa: E402


@pytest.fixture
def traced_at_once(monkeypatch):
    monkeypatch.setattr(backend, "EAGER_CALLS", 1)


def _prompts(rng: np.random.Generator, prompts: int = 2, points: int = 2) -> dict:
    return {
        "points": rng.uniform(0, 1024, (1, prompts, points, 2)),
        "labels": rng.integers(0, 2, (1, prompts, points)),
        "boxes": None,
        "masks": None,
    }


def _eager(model: SamModel, embeddings: torch.Tensor, multimask: bool, **prompts) -> tuple[np.ndarray, np.ndarray]:
    """The model called directly (never traced)."""
    as_tensor = lambda a, dtype: None if a is None else torch.from_numpy(np.asarray(a)).to(dtype)  # noqa: E731
    with torch.inference_mode():
        outputs = model(
            image_embeddings=embeddings,
            input_points=as_tensor(prompts["points"], torch.float32),
            input_labels=as_tensor(prompts["labels"], torch.int64),
            input_boxes=as_tensor(prompts["boxes"], torch.float32),
            input_masks=as_tensor(prompts["masks"], torch.float32),
            multimask_output=multimask,
        )
    return outputs.pred_masks.numpy(), outputs.iou_scores.numpy()


def _setup(seed: int = 0) -> tuple[SamModel, backend.ModelBackend, torch.Tensor]:
    torch.manual_seed(seed)
    model = SamModel(tiny_config())
    decoder = backend.ModelBackend(model)
    embeddings = torch.randn(1, model.config.mask_decoder_config.hidden_size, 64, 64)
    return model, decoder, embeddings


def test_traced_calls_equal_eager_ones_for_every_kind_of_call(traced_at_once) -> None:
    model, decoder, embeddings = _setup()
    rng = np.random.default_rng(1)
    kinds = [
        (_prompts(rng), True),
        (_prompts(rng, points=1), False),
        ({**_prompts(rng, prompts=1), "boxes": np.array([[[100.0, 200.0, 700.0, 900.0]]])}, True),
        ({"points": None, "labels": None, "boxes": np.array([[[50.0, 60.0, 400.0, 300.0]]]), "masks": None}, False),
        ({**_prompts(rng, prompts=1, points=1), "masks": rng.standard_normal((1, 1, 256, 256))}, True),
    ]
    for prompts, multimask in kinds:
        expected = _eager(model, embeddings, multimask, **prompts)
        for _ in range(3):  # eager, traced, traced again
            logits, iou = decoder._decode_once(embeddings, **prompts, multimask_output=multimask)
            np.testing.assert_array_equal(logits, expected[0])
            np.testing.assert_array_equal(iou, expected[1])
    assert len(backend.ModelGraphs.of(model)._graphs) == len(kinds)


def test_a_kind_of_call_runs_eagerly_until_it_has_been_seen_eager_calls_times(monkeypatch) -> None:
    monkeypatch.setattr(backend, "EAGER_CALLS", 3)
    model, decoder, embeddings = _setup()
    prompts = _prompts(np.random.default_rng(2))
    graphs = backend.ModelGraphs.of(model)
    for call in range(1, 5):
        decoder._decode_once(embeddings, **prompts, multimask_output=True)
        assert len(graphs._graphs) == (call > 3)


def test_traces_follow_in_place_updates_and_new_parameter_tensors(traced_at_once) -> None:
    model, decoder, embeddings = _setup()
    prompts = _prompts(np.random.default_rng(3))
    for _ in range(2):
        before = decoder._decode_once(embeddings, **prompts, multimask_output=True)
    head = model.mask_decoder.iou_prediction_head
    layer = next(module for module in head.modules() if isinstance(module, torch.nn.Linear))
    with torch.no_grad():
        layer.weight.mul_(3.0)  # an optimizer step: the trace shares the tensor
    after = decoder._decode_once(embeddings, **prompts, multimask_output=True)
    assert not np.array_equal(after[1], before[1])
    np.testing.assert_array_equal(after[1], _eager(model, embeddings, True, **prompts)[1])
    graphs = backend.ModelGraphs.of(model)
    assert len(graphs._graphs) == 1
    layer.weight = torch.nn.Parameter(torch.randn_like(layer.weight))  # a new tensor (load_state_dict(assign=True))
    replaced = decoder._decode_once(embeddings, **prompts, multimask_output=True)
    np.testing.assert_array_equal(replaced[1], _eager(model, embeddings, True, **prompts)[1])
    assert not np.array_equal(replaced[1], after[1])
    model.mask_decoder = type(model.mask_decoder)(model.config.mask_decoder_config)  # a new part
    fresh = decoder._decode_once(embeddings, **prompts, multimask_output=True)
    np.testing.assert_array_equal(fresh[0], _eager(model, embeddings, True, **prompts)[0])


def test_traced_calls_still_check_prompt_values(traced_at_once) -> None:
    model, decoder, embeddings = _setup()
    prompts = _prompts(np.random.default_rng(4))
    for _ in range(2):
        decoder._decode_once(embeddings, **prompts, multimask_output=True)
    assert len(backend.ModelGraphs.of(model)._graphs) == 1
    bad_labels = {**prompts, "labels": np.full_like(prompts["labels"], 7)}
    with pytest.raises(ValueError, match="input_labels"):
        decoder._decode_once(embeddings, **bad_labels, multimask_output=True)
    bad_points = {**prompts, "points": np.where(prompts["points"] > 500, np.nan, prompts["points"])}
    with pytest.raises(ValueError, match="input_points"):
        decoder._decode_once(embeddings, **bad_points, multimask_output=True)


def test_the_number_of_traces_is_bounded_and_the_model_is_not_kept_alive(traced_at_once, monkeypatch) -> None:
    monkeypatch.setattr(backend, "MAX_GRAPHS", 2)
    model, decoder, embeddings = _setup()
    rng = np.random.default_rng(5)
    for points in (1, 2, 3, 1):
        prompts = _prompts(rng, prompts=1, points=points)
        for _ in range(2):
            decoder._decode_once(embeddings, **prompts, multimask_output=True)
    graphs = backend.ModelGraphs.of(model)
    assert [key[2][1][0] for key in graphs._graphs] == [(1, 1, 3, 2), (1, 1, 1, 2)]  # least recently used dropped
    alive = weakref.ref(model)
    del model, decoder, graphs
    gc.collect()
    assert alive() is None


def test_autocast_and_other_models_run_eagerly(traced_at_once) -> None:
    model, decoder, embeddings = _setup()
    prompts = _prompts(np.random.default_rng(6))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for _ in range(3):
            decoder._decode_once(embeddings, **prompts, multimask_output=True)
    assert not backend.ModelGraphs.of(model)._graphs
    wrapper = torch.nn.Module()  # not a sam_torch SamModel (transformers' SamModel, say)
    assert backend.ModelGraphs.of(wrapper)._traceable is False


def test_threads_share_one_trace_and_get_the_eager_outputs(traced_at_once) -> None:
    model, decoder, embeddings = _setup()
    rng = np.random.default_rng(7)
    cases = [_prompts(rng) for _ in range(4)]
    expected = [_eager(model, embeddings, True, **prompts) for prompts in cases]
    results: dict[int, list] = {}

    def work(index: int) -> None:
        results[index] = [decoder._decode_once(embeddings, **cases[index], multimask_output=True) for _ in range(5)]

    threads = [threading.Thread(target=work, args=(index,)) for index in range(len(cases))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, outputs in results.items():
        for logits, iou in outputs:
            np.testing.assert_array_equal(logits, expected[index][0])
            np.testing.assert_array_equal(iou, expected[index][1])
    assert len(backend.ModelGraphs.of(model)._graphs) == 1
