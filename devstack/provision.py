"""Provisions `template.yaml` itself on an AWS endpoint (moto's server by default) through CloudFormation, and
derives the functions' environment from the template's own `Globals`, resolved against the created stack.

moto builds the tables, queues with their redrive policies, the KMS key and the bucket; it skips what it cannot
emulate (functions, the API, the WAF, alarms) with a warning, which is what a local stack wants.
"""

from __future__ import annotations

import copy
import functools
import time
from pathlib import Path
from typing import Any

import boto3
import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
STACK_NAME = "prakerja"


class _TemplateLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short intrinsic tags (!Ref, !GetAtt, !Sub, ...) read as their long forms."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise yaml.constructor.ConstructorError(None, None, f"unexpected node for !{tag_suffix}", node.start_mark)
    return {name: value}


_TemplateLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template as a dict of its own (the caller may change it), parsed once per version of the file: every
    integration test derives its functions' environment from it."""
    stat = path.stat()
    return copy.deepcopy(_parsed(str(path), stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=8)
def _parsed(path: str, _mtime_ns: int, _size: int) -> dict[str, Any]:
    document: dict[str, Any] = yaml.load(Path(path).read_text(), Loader=_TemplateLoader)  # noqa: S506 - SafeLoader subclass
    return document


def create_stack(
    session: boto3.session.Session, endpoint_url: str | None, template_path: Path = TEMPLATE
) -> dict[str, str]:
    """Creates the stack and returns {logical id: physical id}."""
    cloudformation = session.client("cloudformation", endpoint_url=endpoint_url)
    cloudformation.create_stack(
        StackName=STACK_NAME,
        TemplateBody=template_path.read_text(),
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    deadline = time.monotonic() + 120
    while True:
        status = cloudformation.describe_stacks(StackName=STACK_NAME)["Stacks"][0]["StackStatus"]
        if status == "CREATE_COMPLETE":
            break
        if status.endswith("FAILED") or "ROLLBACK" in status or time.monotonic() > deadline:
            raise RuntimeError(f"stack {STACK_NAME} ended {status}")
        time.sleep(0.5)
    resources: dict[str, str] = {}
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=STACK_NAME):
        for summary in page["StackResourceSummaries"]:
            if summary.get("PhysicalResourceId"):
                resources[summary["LogicalResourceId"]] = summary["PhysicalResourceId"]
    return resources


def function_environment(
    resources: dict[str, str], template: dict[str, Any] | None = None, parameters: dict[str, str] | None = None
) -> dict[str, str]:
    """`Globals.Function.Environment.Variables`, each `!Ref` replaced by the created resource's id or by the
    parameter's value (`parameters`, else its default)."""
    template = template or load_template()
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    defaults = {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}
    values = {**defaults, **(parameters or {}), **resources}
    environment = {}
    for name, value in variables.items():
        if isinstance(value, dict):
            ((intrinsic, target),) = value.items()
            if intrinsic != "Ref":
                raise ValueError(f"{name}: only !Ref can be resolved locally, not {intrinsic}")
            environment[name] = values[target]
        else:
            environment[name] = str(value)
    return environment
