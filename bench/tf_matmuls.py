"""How long TensorFlow's matmuls alone take for the image encoder, a floor under any Keras implementation of it.

Times, in this process and at the encoder's shapes, only the dense products of every ViT layer (qkv and proj on the
padded window grid, the two MLP products on the tokens) and the attention products (q.k^T and attn.v, for global
layers in blocks of sam_tf's QUERY_CHUNK_SIZE queries as the model runs them), each the median of a few runs, and
sums them over the layers. Softmax, the relative-position bias, layer norms, GELU, padding, patch embedding and
the neck are left out, so the whole encoder cannot be faster than this sum. The same run times dualsam's whole
Keras encoder (eager and XLA) beside it.

    python bench/tf_matmuls.py [--preset sam-vit-base] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from sam_core import SamConfig
from sam_tf.image_encoder import QUERY_CHUNK_SIZE


def _median_seconds(fn: Callable[[], tf.Tensor], runs: int = 7) -> float:
    fn().numpy()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn().numpy()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _product(shape_a: tuple[int, ...], shape_b: tuple[int, ...], transpose_b: bool = False) -> float:
    rng = np.random.default_rng(0)
    a = tf.constant(rng.standard_normal(shape_a, dtype=np.float32))
    b = tf.constant(rng.standard_normal(shape_b, dtype=np.float32))
    return _median_seconds(lambda: tf.matmul(a, b, transpose_b=transpose_b))


def layer_matmul_seconds(vision, windowed: bool) -> dict[str, float]:
    """Seconds of each matmul of one ViT layer (one image), keyed by name."""
    grid = vision.image_size // vision.patch_size
    hidden, mlp, heads = vision.hidden_size, vision.mlp_dim, vision.num_attention_heads
    head_dim, tokens = hidden // heads, grid * grid
    if windowed:
        side = -(-grid // vision.window_size) * vision.window_size
        rows, windows, window_tokens = side * side, (side // vision.window_size) ** 2, vision.window_size**2
        attention = {
            "q.k^T": _product(
                (windows, heads, window_tokens, head_dim), (windows, heads, window_tokens, head_dim), True
            ),
            "attn.v": _product(
                (windows, heads, window_tokens, window_tokens), (windows, heads, window_tokens, head_dim)
            ),
        }
    else:
        rows, chunk = tokens, min(QUERY_CHUNK_SIZE, tokens)
        blocks = tokens / chunk
        attention = {
            "q.k^T": blocks * _product((1, heads, chunk, head_dim), (1, heads, tokens, head_dim), True),
            "attn.v": blocks * _product((1, heads, chunk, tokens), (1, heads, tokens, head_dim)),
        }
    return {
        "qkv": _product((rows, hidden), (hidden, 3 * hidden)),
        "proj": _product((rows, hidden), (hidden, hidden)),
        "lin1": _product((tokens, hidden), (hidden, mlp)),
        "lin2": _product((tokens, mlp), (mlp, hidden)),
        **attention,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="sam-vit-base")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    vision = SamConfig.from_preset(args.preset).vision_config
    num_global = sum(1 for i in range(vision.num_hidden_layers) if i in vision.global_attn_indexes)
    total = 0.0
    for windowed, count in ((True, vision.num_hidden_layers - num_global), (False, num_global)):
        seconds = layer_matmul_seconds(vision, windowed)
        parts = ", ".join(f"{name} {1e3 * value:.0f}" for name, value in seconds.items())
        print(f"{'windowed' if windowed else 'global'} layer x {count}: {1e3 * sum(seconds.values()):.0f} ms ({parts})")
        total += count * sum(seconds.values())
    print(f"preset {args.preset}: TensorFlow matmuls alone, all layers: {total:.2f} s per image")
    from sam_tf import TFSamModel

    model = TFSamModel(SamConfig.from_preset(args.preset))
    pixels = tf.constant(np.random.default_rng(0).standard_normal((1, 3, vision.image_size, vision.image_size),
                                                                  dtype=np.float32))
    xla = tf.function(model.get_image_embeddings, jit_compile=True)
    for name, fn in (("eager", model.get_image_embeddings), ("XLA", xla)):
        seconds = _median_seconds(lambda fn=fn: fn(pixels), runs=3)
        print(f"dualsam-tf {name} encoder: {seconds:.2f} s; the matmuls alone are {100 * total / seconds:.0f}% of it")


if __name__ == "__main__":
    main()
