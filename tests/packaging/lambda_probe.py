"""Runs inside the deployable package the way Lambda would, with nothing but the package and the standard library.

    python3.11 -I -S tests/packaging/lambda_probe.py PACKAGE_DIR REQUEST_JSON REPORT_JSON

`-I -S` leaves only the standard library on `sys.path` (no site-packages, no script directory, no PYTHON*
variables); this script then puts PACKAGE_DIR (the unzipped deployment.zip, and any layer's `python/` after it)
first, as Lambda's runtime does with /var/task. It imports the app and every module under `functions`, invokes
each handler named in the request with the minimal event given for it, runs the draw over the pool given, and
writes one JSON document with what happened to REPORT_JSON (stdout is
the functions' log, as on Lambda). It imports nothing of the repository: tests/packaging/test_runs.py
writes the request and compares the answer with the same work done in the test's own venv.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import pkgutil
import sys
import traceback
from typing import Any


class LambdaContext:
    """What Lambda passes as the context; Chalice and Powertools read these attributes."""

    function_name = "probe"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:ap-southeast-3:123456789012:function:probe"
    memory_limit_in_mb = 512
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/probe"
    log_stream_name = "probe"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def import_everything() -> list[str]:
    importlib.import_module("app")
    functions = importlib.import_module("functions")
    names = ["app", "functions"]
    for module in pkgutil.walk_packages(functions.__path__, "functions."):
        importlib.import_module(module.name)
        names.append(module.name)
    return names


def invoke(handler: str, event: dict[str, Any]) -> dict[str, Any]:
    module_name, _, attribute = handler.rpartition(".")
    function = getattr(importlib.import_module(module_name), attribute)
    try:
        return {"answer": function(event, LambdaContext())}
    except Exception as error:  # reported to the test, which says what was expected
        return {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}


def draw(request: dict[str, Any]) -> dict[str, Any]:
    from functions.domain.draw import DrawRules, Member, Pool, manifest, ranked_list_lines, run_draw

    pool = Pool.of(Member(**member) for member in request["members"])
    seed = bytes.fromhex(request["seed"])
    result = run_draw(pool, seed, DrawRules(**request["rules"]), {}, wave_secret=bytes.fromhex(request["wave_secret"]))
    ranked = "".join(ranked_list_lines(result))
    document = manifest(
        result,
        wave=request["wave"],
        seed=seed,
        beacon=None,
        ranked_list={"name": "ranked-list.csv", "sha256": hashlib.sha256(ranked.encode()).hexdigest()},
    )
    return {"manifest": document, "ranked_list": ranked}


def main() -> None:
    package_dirs, request_path, report_path = sys.argv[1].split(":"), sys.argv[2], sys.argv[3]
    sys.path[:0] = package_dirs
    with open(request_path, encoding="utf-8") as file:
        request = json.load(file)
    report: dict[str, Any] = {"sys_path": sys.path, "modules": import_everything()}
    report["numpy"] = importlib.import_module("numpy").__file__
    report["handlers"] = {handler: invoke(handler, event) for handler, event in request["handlers"].items()}
    report["draw"] = draw(request["draw"])
    with open(report_path, "w", encoding="utf-8") as file:
        json.dump(report, file, default=str)


if __name__ == "__main__":
    main()
