"""What machine and software a run was measured on, and how busy the machine was."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path


def _first(path: str, prefix: str) -> str:
    """The value of the first ``prefix: value`` line of a /proc file."""
    for line in Path(path).read_text().splitlines():
        if line.startswith(prefix):
            return line.split(":", 1)[1].strip()
    return "?"


def _cmd(args: list[str]) -> str:
    """First output line of a command, or '?'."""
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (proc.stdout or proc.stderr).strip().splitlines()
    return text[0] if text else "?"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def os_name() -> str:
    """PRETTY_NAME from /etc/os-release."""
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return platform.platform()


def foreign_containers(label_app: str) -> int:
    """Running containers that are not ours (other work sharing the machine)."""
    out = _cmd(["sh", "-c", "docker ps -q | wc -l"])
    ours = _cmd(["sh", "-c", f"docker ps -q --filter label=flaskfleet.app={label_app} | wc -l"])
    try:
        return int(out) - int(ours)
    except ValueError:
        return -1


def load() -> str:
    """1/5/15-minute load averages."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def describe(pyinfra_version: str) -> dict[str, str]:
    """Hardware, OS and tool versions, for the report header."""
    mem_kb = int(_first("/proc/meminfo", "MemTotal").split()[0])
    return {
        "CPU": f"{_first('/proc/cpuinfo', 'model name')}, {os.cpu_count()} cores",
        "Memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "OS / kernel": f"{os_name()} / {platform.release()}",
        "Docker": _cmd(["docker", "version", "--format", "{{.Server.Version}}"]),
        "OpenSSH": _cmd(["ssh", "-V"]),
        "rsync": _cmd(["rsync", "--version"]),
        "Python": platform.python_version(),
        "ansible-core": _version("ansible-core"),
        "Fabric / paramiko": f"{_version('fabric')} / {_version('paramiko')}",
        "pyinfra": pyinfra_version,
        "flaskfleet": _version("flaskfleet"),
        "moto": _version("moto"),
    }
