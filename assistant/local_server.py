"""The child process that runs a local GGUF model: llama-cpp-python's OpenAI-compatible server.

Started by `assistant.supervisor`, never by hand. It is run as a file (`python .../local_server.py`),
not as `-m assistant.local_server`, so that it does not import the `assistant` package and its
dependencies: the child holds the model and nothing else.

The handshake: the model is loaded first, then a socket is bound to a free loopback port and put in
listening state, and only then is one JSON line written to stdout, `{"port": N}`. A parent that
reads that line knows the model loaded and can send requests at once (they wait in the socket's
backlog until the server accepts them). A model that fails to load exits with code 3 and its error
on stderr.

The child never outlives its parent: its stdin is a pipe whose other end only the parent holds,
and a thread waits for end-of-file there, which happens when the parent exits for any reason,
SIGKILL included; the child then exits at once.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import signal
import socket
import sys
import threading


def _exit_with_parent() -> None:
    """Block until stdin reaches end-of-file (the parent is gone), then exit immediately."""
    while sys.stdin.buffer.read(4096):
        pass
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    """Load the model, report the port, serve until the parent goes away."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", required=True, help="path to a .gguf file")
    parser.add_argument("--n-ctx", type=int, default=4096, help="context window in tokens")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: every core)")
    args = parser.parse_args(argv)
    threading.Thread(target=_exit_with_parent, name="exit-with-parent", daemon=True).start()
    # A parent that waited too long for the handshake sends SIGUSR1 and reports where this process was.
    faulthandler.register(signal.SIGUSR1, all_threads=False)

    # Spinning OpenMP threads slow llama.cpp down badly on busy cores; libgomp reads this once, at load.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import uvicorn
    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    threads = args.threads or os.cpu_count() or 1
    try:
        model = ModelSettings(
            model=args.model,
            n_ctx=args.n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            seed=0,
            # The server's default keeps the logits of every prompt token (for `logprobs`, which the
            # assistant never asks for): 15-20 % of the prompt's reading time on 2 cores.
            logits_all=False,
            verbose=False,
        )
        # interrupt_requests=False: by default a new request cuts the answer streaming to another
        # user short; here concurrent requests wait their turn for the model instead.
        server = ServerSettings(host="127.0.0.1", port=0, interrupt_requests=False)
        app = create_app(server_settings=server, model_settings=[model])
    except Exception as exc:  # noqa: BLE001 - any load failure is reported to the parent the same way
        print(f"model did not load: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        os._exit(3)  # at once: a half-loaded llama.cpp can hang the interpreter's normal shutdown

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    print(json.dumps({"port": sock.getsockname()[1]}), flush=True)
    # Nothing else goes to stdout: the parent stops reading it after the handshake.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
