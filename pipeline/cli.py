"""The ``sukf`` console script: one entry point, each subcommand owned by the module it runs.

Subcommands import lazily so ``sukf precheck`` does not pay for Dagster or dbt imports.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module:function, one-line help)
    "demo": ("pipeline.demo:main", "generate bundled synthetic submissions and run a full quarterly load"),
    "load": ("pipeline.defs.load:main", "coordinator: run the quarterly load for YYYYQn and publish"),
    "republish": ("pipeline.defs.load:republish_main", "coordinator: national build and publish without intake"),
    "close-year": ("pipeline.defs.load:close_year_main", "coordinator: declare a year final (after its Q4)"),
    "doctor": ("pipeline.doctor:main", "coordinator: check the installation (and --repair what is derivable)"),
    "generate": ("pipeline.submission.generator:main", "write synthetic submissions (and --faults)"),
    "template": ("pipeline.submission.template:main", "write the Excel submission template"),
    "precheck": ("pipeline.validation.precheck:main", "check a file locally with the pipeline's rules"),
    "dbt-vars": ("pipeline.settings:dbt_vars_main", "print the data folder's paths as dbt --vars (dbt by hand)"),
    "artefacts": ("pipeline.contract.artefacts:main", "write/check artefacts derived from the dictionary"),
    "token": ("pipeline.services.tokens:main", "coordinator: issue, list and revoke upload tokens"),
    "population": ("pipeline.keyfigures.population:main", "coordinator: install the population 18+ CSV"),
    "serve": ("pipeline.services.serve:main", "run the upload service and the read API"),
    "up": ("pipeline.services.up:main", "start the whole system locally (Dagster + services)"),
    "dagster-home": ("pipeline.instance_config:main", "write the profile's Dagster instance config, print its home"),
    "upload": ("pipeline.services.client:upload_main", "municipality: upload a file and wait for the report"),
    "pull": ("pipeline.services.client:pull_main", "consumer: pull key figures or a whole release"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: sukf <command> [options]", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run 'sukf <command> --help' for the options of one command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"sukf: okänt kommando {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, func_name = COMMANDS[name][0].split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    return int(func(rest) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
