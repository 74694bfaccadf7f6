"""`podforge engine standin`: the labelled stand-in of an OpenAI-compatible inference engine (no model)."""

from __future__ import annotations

import argparse
import sys

from components import exitcodes
from components.commands import example


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("engine", help="inference engines podforge runs itself (the stand-in)",
                       description="Engines podforge runs itself. The real engine (vLLM) runs on the serving nodes; "
                                   "here there is only its stand-in, for tests and the lab.",
                       **example("podforge engine standin --listen 127.0.0.1:8000"))
    actions = p.add_subparsers(dest="action", required=True)
    standin = actions.add_parser(
        "standin", help="run the stand-in engine (simulated; until stopped)",
        description="A stand-in for an OpenAI-compatible engine, labelled as such in every answer (header "
                    "X-Podforge-Standin: simulated, owned_by podforge-standin): chat completions echo the last user "
                    "message as the assistant's content, completions echo the prompt, streamed in small chunks when "
                    "asked; /health, /v1/models and /metrics with vLLM's metric names and simulated values.",
        **example("podforge engine standin --listen 127.0.0.1:8001 --model deepseek-ai/DeepSeek-R1"))
    standin.add_argument("--listen", required=True, metavar="ADDR:PORT", help="address and port to listen on")
    standin.add_argument("--model", default="deepseek-ai/DeepSeek-R1",
                         help="the model name it serves (default: deepseek-ai/DeepSeek-R1); others get 404")
    standin.add_argument("--delay-ms", type=float, default=0.0, metavar="MS",
                         help="time each answer takes, spread over the chunks when streamed (default: 0)")
    standin.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from components.gateway.serve import ServeError, parse_listen, serve_standin

    try:
        listen = parse_listen(args.listen)
    except ServeError as exc:
        print(f"podforge engine: {exc}", file=sys.stderr)
        return exitcodes.INVALID
    if args.delay_ms < 0:
        print(f"podforge engine: --delay-ms {args.delay_ms:g}: expected 0 or more", file=sys.stderr)
        return exitcodes.INVALID
    serve_standin(listen, args.model, args.delay_ms / 1000)
    return exitcodes.OK
