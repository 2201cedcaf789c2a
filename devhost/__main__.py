"""`python -m devhost run REQUEST.json` and `python -m devhost serve`.

`run` (devhost/cli_run.py) sends one request through the whole stack and prints its result;
exit codes 0 Success, 1 Failed, 2 bad input, 3 Cancelled, 130 stopped waiting.
`serve` (devhost/cli_serve.py) keeps the app's HTTP API up on loopback with function keys,
timer triggers and a request log; its first stdout line is JSON for scripts.

`--code DIR` (both) rehearses sweeps: the emulator runs their trials for real with the
training code in DIR (docs/rehearsal.md).
"""

from __future__ import annotations

import argparse

from devhost import cli_run, cli_serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    cli_run.add_arguments(sub.add_parser("run", help="run one request end to end and print the result"))
    cli_serve.add_arguments(sub.add_parser("serve", help="serve the app's HTTP API on loopback"))
    args = parser.parse_args(argv)
    return cli_run.run(args) if args.command == "run" else cli_serve.serve(args)


if __name__ == "__main__":
    raise SystemExit(main())
