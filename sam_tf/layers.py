"""Small building blocks shared by the SAM modules (Keras 3 backend, NHWC).

Shape legend: B batch, C channels, H/W height/width, T tokens.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from sam_core import config as sam_config

ACTIVATIONS: dict[str, str] = {"gelu": "gelu", "relu": "relu"}  # Keras' "gelu" is the exact erf form


def get_activation(name: str, *, layer_name: str) -> keras.layers.Layer:
    """Returns a fresh activation layer for a config's ``hidden_act`` string."""
    if name not in ACTIVATIONS:
        raise ValueError(f"hidden_act must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return keras.layers.Activation(ACTIVATIONS[name], name=layer_name)


def serialize_sam_config(config: Any) -> dict[str, Any]:
    """A SamConfig or sub-config as a plain dict for ``get_config`` (class name plus its config.json dict)."""
    return {"class_name": type(config).__name__, "config": config.to_dict()}


def deserialize_sam_config(value: Any) -> Any:
    """Inverse of serialize_sam_config; config objects pass through."""
    if not isinstance(value, dict):
        return value
    return getattr(sam_config, value["class_name"]).from_dict(value["config"])


class SamLayer(keras.layers.Layer):
    """Base of the layers built from a sam_core config: ``get_config`` holds the constructor arguments, with the
    config object (argument ``config``) serialized as a dict."""

    def _constructor_config(self) -> dict[str, Any]:
        return {}

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        for key, value in self._constructor_config().items():
            config[key] = serialize_sam_config(value) if key == "config" else value
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SamLayer:
        config = dict(config)
        if "config" in config:
            config["config"] = deserialize_sam_config(config["config"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="dualsam")
class LayerNorm2d(keras.layers.LayerNormalization):
    """Layer norm over the channel axis of an NHWC tensor (the last axis).

    Args:
        num_channels: C.
        eps: variance epsilon.
    """

    def __init__(self, num_channels: int, *, eps: float = 1e-6, **kwargs: Any) -> None:
        super().__init__(axis=-1, epsilon=eps, **kwargs)
        self.num_channels = num_channels
        self.eps = eps

    def build(self, input_shape: tuple | None = None) -> None:
        super().build((None, None, None, self.num_channels) if input_shape is None else input_shape)

    def get_config(self) -> dict[str, Any]:
        config = keras.layers.Layer.get_config(self)
        config.update(num_channels=self.num_channels, eps=self.eps)
        return config


@keras.saving.register_keras_serializable(package="dualsam")
class MLPBlock(SamLayer):
    """Two linear layers with an activation between them (``lin1`` -> act -> ``lin2``).

    Args:
        hidden_size: input and output width.
        mlp_dim: inner width.
        hidden_act: activation name.
    """

    def __init__(self, *, hidden_size: int, mlp_dim: int, hidden_act: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hidden_size, self.mlp_dim, self.hidden_act = hidden_size, mlp_dim, hidden_act
        self.lin1 = keras.layers.Dense(mlp_dim, name="lin1")
        self.lin2 = keras.layers.Dense(hidden_size, name="lin2")
        self.act = get_activation(hidden_act, layer_name="act")

    def build(self, input_shape: tuple | None = None) -> None:
        self.lin1.build((None, self.hidden_size))
        self.lin2.build((None, self.mlp_dim))

    def call(self, hidden_states: tf.Tensor) -> tf.Tensor:
        """(..., hidden_size) -> (..., hidden_size), in this block's compute dtype (bf16 mode: lin2's is cast up)."""
        return tf.cast(self.lin2(self.act(self.lin1(hidden_states))), self.compute_dtype)

    def _constructor_config(self) -> dict[str, Any]:
        return dict(hidden_size=self.hidden_size, mlp_dim=self.mlp_dim, hidden_act=self.hidden_act)


@keras.saving.register_keras_serializable(package="dualsam")
class FeedForward(SamLayer):
    """A ReLU MLP of ``num_layers`` linear layers: ``proj_in``, ``layers_*``, ``proj_out``.

    Args:
        input_dim: input width.
        hidden_dim: inner width.
        output_dim: output width.
        num_layers: total number of linear layers (>= 2).
        sigmoid_output: apply a sigmoid to the output.
    """

    def __init__(
        self,
        *,
        input_dim: int,
        hidden_dim: int,
        output_dim: int,
        num_layers: int,
        sigmoid_output: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.input_dim, self.hidden_dim, self.output_dim = input_dim, hidden_dim, output_dim
        self.num_layers = num_layers
        self.activation = keras.layers.Activation("relu", name="activation")
        self.proj_in = keras.layers.Dense(hidden_dim, name="proj_in")
        self.proj_out = keras.layers.Dense(output_dim, name="proj_out")
        self.layers = [keras.layers.Dense(hidden_dim, name=f"layers_{i}") for i in range(num_layers - 2)]
        self.sigmoid_output = sigmoid_output

    def build(self, input_shape: tuple | None = None) -> None:
        self.proj_in.build((None, self.input_dim))
        self.proj_out.build((None, self.hidden_dim))
        for layer in self.layers:
            layer.build((None, self.hidden_dim))

    def call(self, hidden_states: tf.Tensor) -> tf.Tensor:
        """(..., input_dim) -> (..., output_dim)."""
        hidden_states = self.activation(self.proj_in(hidden_states))
        for layer in self.layers:
            hidden_states = self.activation(layer(hidden_states))
        hidden_states = self.proj_out(hidden_states)
        return tf.sigmoid(hidden_states) if self.sigmoid_output else hidden_states

    def _constructor_config(self) -> dict[str, Any]:
        return dict(
            input_dim=self.input_dim,
            hidden_dim=self.hidden_dim,
            output_dim=self.output_dim,
            num_layers=self.num_layers,
            sigmoid_output=self.sigmoid_output,
        )
