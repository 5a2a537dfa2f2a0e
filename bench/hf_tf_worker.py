"""Times transformers' TFSamModel image encoder on request, in its own process (Keras 2 / tf-keras).

Started by bench/encoder.py with TF_USE_LEGACY_KERAS=1 and a SamConfig dict as argv[1]. It builds the model,
warms up once eagerly and once as a ``tf.function`` (its trace), prints "ready", then answers every "run" line on
stdin with the seconds one eager ``get_image_embeddings`` took and every "graph" line with the seconds of one call of
the traced function, so the parent can alternate them with the in-process contenders. "quit" ends it.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402
import transformers  # noqa: E402


def main() -> None:
    config = transformers.SamConfig(**json.loads(sys.argv[1]))
    threads = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2] != "0" else None
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    model = transformers.TFSamModel(config)
    pixels = tf.random.normal((1, 3, config.vision_config.image_size, config.vision_config.image_size))
    model.get_image_embeddings(pixels).numpy()  # builds the model and warms up
    graph = tf.function(model.get_image_embeddings)
    graph(pixels).numpy()  # traces
    calls = {"run": model.get_image_embeddings, "graph": graph}
    print("ready", flush=True)
    for line in sys.stdin:
        call = calls.get(line.strip())
        if call is None:
            break
        start = time.perf_counter()
        call(pixels).numpy()
        print(f"{time.perf_counter() - start:.6f}", flush=True)


if __name__ == "__main__":
    main()
