"""The deployable package, built once per test session: `chalice package` resolves and unpacks every dependency."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devstack.provision import load_template
from infra.package import package

FUNCTION = "AWS::Serverless::Function"


@dataclass(frozen=True)
class Packaged:
    template_path: Path
    template: dict[str, Any]
    zip_names: frozenset[str]

    @property
    def zip_path(self) -> Path:
        return self.template_path.parent / "deployment.zip"

    @property
    def resources(self) -> dict[str, Any]:
        resources: dict[str, Any] = self.template["Resources"]
        return resources

    def functions(self) -> dict[str, Any]:
        return {name: resource for name, resource in self.resources.items() if resource["Type"] == FUNCTION}


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Packaged:
    root = tmp_path_factory.mktemp("packaging")
    template_path = package(root / "package", stage_dir=root / "chalice-project")
    with zipfile.ZipFile(template_path.parent / "deployment.zip") as archive:
        names = frozenset(archive.namelist())
    return Packaged(template_path, load_template(template_path), names)
