"""The execution environment definition renders a build context that installs on RPM-based images.

``ansible-builder create`` (no image build: that needs a registry) renders the Containerfile and
``_build/`` from the top-level ``execution-environment.yml``; the collection's own
``meta/execution-environment.yml`` is what ``ansible-builder introspect`` reads from the installed
collection. The bindep file is evaluated for an RPM platform, the way ``bindep`` resolves it in
the image, and for Debian, so a wrong package name for either family fails here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml
from bindep.depends import Depends

ROOT = Path(__file__).resolve().parents[3]
BIN = ROOT / ".venv" / "bin"
RPM_PROFILE = ["platform:rpm", "platform:redhat", "platform:centos", "platform:centos-9"]
DPKG_PROFILE = ["platform:dpkg", "platform:debian", "platform:debian-12"]
# What the roles' controller side runs: ssh/sftp (connection), tar+gzip (artifact manifest),
# sha256sum/stat (coreutils), hostname (deploy lock owner).
CONTROLLER_PACKAGES = {"tar", "gzip", "coreutils", "hostname"}


def collection_version() -> str:
    return yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]


def packages(bindep_text: str, profile: list[str]) -> list[str]:
    """Package names bindep installs for ``profile``."""
    return [rule[0] for rule in Depends(bindep_text).active_rules(profile)]


def requirement_names(lines: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].lower() for line in lines}


def requirement_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_builder_create_renders_the_context(tmp_path, figure):
    # The EE definition's paths are relative to it: a copy of exactly what it names.
    tarball = f"flaskfleet-cloud-{collection_version()}.tar.gz"
    src = tmp_path / "src"
    (src / "meta").mkdir(parents=True)
    (src / "build").mkdir()
    for name in ("execution-environment.yml", "bindep.txt", "meta/ee-requirements.txt"):
        shutil.copy(ROOT / name, src / name)
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(src / "build"),
                    str(ROOT)], check=True, capture_output=True)  # fmt: skip
    context = tmp_path / "context"
    proc = subprocess.run(
        [str(BIN / "ansible-builder"), "create", "-f", "execution-environment.yml", "-c", str(context),
         "--output-filename", "Containerfile", "-v", "2"],
        cwd=src, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rendered = sorted(str(p.relative_to(context)) for p in context.rglob("*") if p.is_file())
    steps = [line for line in (context / "Containerfile").read_text().splitlines() if line.startswith(("FROM", "RUN"))]
    figure("ansible-builder create: " + proc.stdout.strip().splitlines()[-1] + "\n" + "\n".join(rendered + steps))

    containerfile = (context / "Containerfile").read_text()
    build = context / "_build"
    assert "FROM quay.io/centos/centos:stream9" in containerfile or "quay.io/centos/centos:stream9" in containerfile
    assert "ansible-galaxy collection install" in containerfile
    assert "--user-bindep=bindep.txt" in containerfile
    assert "/usr/bin/dnf" in containerfile
    # The collection tarball the galaxy requirements name is in the context, under that name.
    galaxy = yaml.safe_load((build / "requirements.yml").read_text())
    assert galaxy["collections"] == [{"name": f"collections/{tarball}", "type": "file"}], (
        "execution-environment.yml names another tarball than galaxy.yml's version builds"
    )
    assert (build / "collections" / tarball).is_file()

    python = requirement_lines((build / "requirements.txt").read_text())
    assert requirement_names(python) == {"boto3", "botocore", "docker"}
    assert all(re.search(r">=[\d.]+,<\d", line) for line in python), f"requirements must be ranges: {python}"
    assert not requirement_names(python) & {"fabric", "invoke", "rich", "paramiko"}

    bindep_text = (build / "bindep.txt").read_text()
    rpm, dpkg = packages(bindep_text, RPM_PROFILE), packages(bindep_text, DPKG_PROFILE)
    figure(f"bindep on rpm ({', '.join(RPM_PROFILE)}): {' '.join(rpm)}")
    figure(f"bindep on dpkg ({', '.join(DPKG_PROFILE)}): {' '.join(dpkg)}")
    assert "openssh-clients" in rpm and "openssh-client" not in rpm
    assert "openssh-client" in dpkg and "openssh-clients" not in dpkg
    assert set(rpm) >= CONTROLLER_PACKAGES and set(dpkg) >= CONTROLLER_PACKAGES


def test_collection_metadata_is_introspected(collections_path, figure):
    """What ansible-builder collects from the installed collection (``meta/execution-environment.yml``)."""
    proc = subprocess.run([str(BIN / "ansible-builder"), "introspect", "--sanitize", collections_path],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = yaml.safe_load(proc.stdout)
    figure("ansible-builder introspect (installed flaskfleet.cloud):\n" + proc.stdout.strip())
    python = [entry.split("#")[0].strip() for entry in data["python"]]
    assert requirement_names(python) == {"boto3", "botocore", "docker"}
    system = [entry.split("#")[0].strip() for entry in data["system"]]
    assert "openssh-clients [platform:rpm]" in system
    assert "openssh-client [platform:dpkg]" in system
