"""``dualsam serve``: the click-to-segment page and its JSON API on one model (``dualsam.serve``, FastAPI).

This module only parses the arguments, loads the model and runs uvicorn. Importing it imports neither FastAPI nor a
framework.
"""

from __future__ import annotations

import argparse
import sys

from .cli_common import EXIT_OK, CliError, Timings, add_model_arguments, load_model_or_exit

DESCRIPTION = (
    "Serve a click-to-segment page and a JSON API (documented at /docs): an uploaded image is encoded once and "
    "each click runs only the prompt encoder and mask decoder. Binds to 127.0.0.1 unless --host says otherwise. "
    "Needs the serve extra: pip install 'dualsam[serve]'."
)


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The serve arguments."""
    add_model_arguments(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument(
        "--cache-mb", type=float, default=1024, metavar="MB",
        help="memory for uploaded images and their embeddings; the least recently used go first (default 1024)",
    )  # fmt: skip
    parser.add_argument(
        "--max-upload-mb", type=float, default=25, metavar="MB", help="largest image upload accepted (default 25)"
    )  # fmt: skip
    return parser


def run(args: argparse.Namespace) -> int:
    """Runs ``dualsam serve`` until interrupted; returns the exit code (bad input raises CliError)."""
    from .serve import ServeMissingError, require_serve

    for option, value in (("--cache-mb", args.cache_mb), ("--max-upload-mb", args.max_upload_mb)):
        if not value > 0:
            raise CliError(f"{option} must be a positive number of MiB, got {value:g}")
    if not 0 <= args.port <= 65535:
        raise CliError(f"--port must be 0..65535, got {args.port}")
    try:
        require_serve()
    except ServeMissingError as error:
        raise CliError(str(error)) from error
    import uvicorn

    from .serve.app import create_app
    from .serve.memory import tune_malloc
    from .serve.threads import share_cores

    tune_malloc()  # a flat RSS under traffic, buffers reused across clicks (see dualsam.serve.memory)

    timings = Timings()
    loaded = load_model_or_exit(args, timings)
    app = create_app(loaded, cache_mb=args.cache_mb, max_upload_mb=args.max_upload_mb)
    # No more threads than cores (dualsam.serve.threads).
    threads = share_cores(loaded.backend, app.state.session.slots, loaded.model)
    print(
        f"dualsam serve: model {loaded.spec} on {loaded.backend} (loaded in {timings['load_model_s']} s, "
        f"{app.state.session.slots} model calls at once, threads per call: {threads}); "
        f"open http://{args.host}:{args.port}/ (API docs at /docs)",
        file=sys.stderr,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return EXIT_OK
