"""The torch model reuses the grid's positional encoding outside autograd, and only while its table is unchanged."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from sam_torch import SamModel  # noqa: E402
from tests.helpers.sam_weights import tiny_config  # noqa: E402


def _fresh(model: SamModel) -> torch.Tensor:
    """The encoding computed from scratch (under autograd nothing is reused)."""
    with torch.enable_grad():
        return model.get_image_wide_positional_embeddings().detach()


def test_reused_outside_autograd_and_equal_to_a_fresh_one() -> None:
    model = SamModel(tiny_config())
    with torch.no_grad():
        first = model.get_image_wide_positional_embeddings()
        again = model.get_image_wide_positional_embeddings()
    assert again is first
    torch.testing.assert_close(first, _fresh(model), rtol=0, atol=0)


def test_recomputed_after_the_table_changes() -> None:
    model = SamModel(tiny_config())
    with torch.inference_mode():
        before = model.get_image_wide_positional_embeddings()
    with torch.no_grad():
        model.shared_image_embedding.positional_embedding.mul_(2.0)  # an optimizer step or load_state_dict
        after = model.get_image_wide_positional_embeddings()
    assert not torch.equal(before, after)
    torch.testing.assert_close(after, _fresh(model), rtol=0, atol=0)
    state = model.state_dict()
    table = torch.randn_like(state["shared_image_embedding.positional_embedding"])
    shared = [key for key in state if key.endswith("positional_embedding")]  # one tensor, two names
    model.load_state_dict({**state, **{key: table for key in shared}})
    with torch.no_grad():
        loaded = model.get_image_wide_positional_embeddings()
    torch.testing.assert_close(loaded, _fresh(model), rtol=0, atol=0)
    assert not torch.equal(loaded, after)


def test_autograd_gets_a_differentiable_encoding() -> None:
    model = SamModel(tiny_config())
    with torch.no_grad():
        model.get_image_wide_positional_embeddings()  # fills the cache
    model.shared_image_embedding.positional_embedding.requires_grad_(True)  # a buffer, made trainable here
    positional = model.get_image_wide_positional_embeddings()
    assert positional.requires_grad
    positional.sum().backward()
    assert model.shared_image_embedding.positional_embedding.grad is not None
