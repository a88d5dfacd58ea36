"""Build a release artifact of a Python web app on the controller.

An artifact is a reproducible ``.tar.gz`` that a host can install without network access::

    manifest.json          app, version, release_id, wsgi, requirement, files: {path: sha256}
    wheels/*.whl           the app and every requirement, built with ``pip wheel``
    static/...             the app's static files (optional), served by nginx

It works for any app that has a ``pyproject.toml`` (the app is a package) or only a
``requirements.txt`` (flat modules next to it: flaskfleet wraps them into a wheel). The same input
and release id give a byte-identical file: sorted entries, fixed mtimes (``SOURCE_DATE_EPOCH``, or
the release id's time), uid/gid 0, gzip mtime 0.

Used by the ``flask_app`` role (through ``python -m flaskfleet.artifact build``) and by
``invoke deploy`` (through :func:`build`); the host side lives in the collection's
``module_utils/_release_artifact.py`` (verification) and ``_release_stage.py``.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import datetime as dt
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flaskfleet import __version__
from flaskfleet import contract as host_contract

__all__ = [
    "MANIFEST_NAME",
    "RELEASE_ID_RE",
    "AppSource",
    "Artifact",
    "ArtifactError",
    "build",
    "inspect_app",
    "main",
    "new_release_id",
    "read_manifest",
    "validate_release_id",
]

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
#: ``YYYYMMDDTHHMMSSZ`` optionally followed by ``-<suffix>``; ids sort by time: the host contract's rule.
RELEASE_ID_RE = host_contract.RELEASE_ID_RE
#: The WSGI server the release's unit runs; added to the wheelhouse when the app does not bring it.
WSGI_SERVER = "gunicorn"
WSGI_SERVER_PIN = "gunicorn==27.0.1"
_SUFFIX_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._]{0,39}$")
_WSGI_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*(\(\))?$")
#: Never copied into the build: VCS data, virtualenvs, caches, old build output.
_SKIP_NAMES = {".git", ".hg", ".svn", ".venv", "venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache",
               ".tox", ".nox", "build", "dist", "node_modules", ".eggs"}  # fmt: skip
_SKIP_SUFFIXES = (".pyc", ".pyo", ".egg-info")
_NOT_APP_MODULES = {"setup", "conftest", "noxfile", "tasks", "manage"}


class ArtifactError(Exception):
    """A user-facing build failure: the message says what to fix."""


@dataclasses.dataclass(frozen=True)
class Artifact:
    """A built artifact.

    :param path: the ``.tar.gz`` file.
    :param sha256: hex digest of that file (what the host checks after upload).
    :param manifest: the manifest stored in it.
    :param release_id: its release id.
    :param app: the app name.
    """

    path: Path
    sha256: str
    manifest: dict[str, Any]
    release_id: str
    app: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (the manifest's file list left out: it can be long)."""
        summary = {k: v for k, v in self.manifest.items() if k != "files"}
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "release_id": self.release_id,
            "app": self.app,
            "size": self.path.stat().st_size,
            "files": len(self.manifest["files"]),
            "manifest": summary,
        }


@dataclasses.dataclass
class AppSource:
    """What :func:`inspect_app` learnt about an app directory.

    :param root: the app directory.
    :param name: app name: the layout's name on the host (``/srv/<name>``).
    :param dist: distribution name (what ``pip install`` on the host asks for).
    :param kind: ``pyproject`` (a real package) or ``requirements`` (flat modules + requirements.txt).
    :param requirements: the pinned requirements file, when there is one.
    :param static_dir: directory of static files, when there is one.
    :param modules: importable top-level modules and packages the app provides.
    """

    root: Path
    name: str
    dist: str
    kind: str
    requirements: Path | None
    static_dir: Path | None
    modules: list[str]


# --------------------------------------------------------------------------- release ids


def new_release_id(suffix: str | None = None, now: dt.datetime | None = None) -> str:
    """A fresh release id: UTC ``YYYYMMDDTHHMMSSZ`` plus ``-<suffix>`` when given."""
    stamp = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    if suffix is None:
        return stamp
    if not _SUFFIX_RE.match(suffix):
        raise ArtifactError(f"invalid release id suffix {suffix!r}: use letters, digits, '.' and '_' (max 40)")
    return f"{stamp}-{suffix}"


def validate_release_id(release_id: str) -> str:
    """Return ``release_id`` if it has the contract's shape, else raise :class:`ArtifactError`."""
    problem = host_contract.release_id_problem(release_id)
    if problem:
        raise ArtifactError(problem)
    return release_id


def _release_epoch(release_id: str) -> int:
    """Fixed timestamp for the archive: ``SOURCE_DATE_EPOCH`` if set, else the release id's time."""
    env = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if env:
        if not env.isdigit():
            raise ArtifactError(f"SOURCE_DATE_EPOCH must be a number of seconds, got {env!r}")
        return int(env)
    stamp = RELEASE_ID_RE.match(release_id).group("stamp")
    return int(dt.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC).timestamp())


# --------------------------------------------------------------------------- app inspection


def _normalize(name: str) -> str:
    """PEP 503 normalised distribution name (``My_App`` -> ``my-app``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _skip(path: Path) -> bool:
    """True for files and dirs that never belong in a build (caches, VCS, old build output)."""
    return path.name in _SKIP_NAMES or path.name.endswith(_SKIP_SUFFIXES) or path.name.startswith(".")


def _find_packages(base: Path) -> list[str]:
    """Top-level import packages (dirs with ``__init__.py``) directly under ``base``."""
    return sorted(p.name for p in base.iterdir() if p.is_dir() and not _skip(p) and (p / "__init__.py").is_file())


def _flat_modules(base: Path) -> list[str]:
    """Top-level ``*.py`` modules that make up a flat app (tests and tooling left out)."""
    mods = []
    for path in sorted(base.glob("*.py")):
        stem = path.stem
        if stem in _NOT_APP_MODULES or stem.startswith("test_") or stem.endswith("_test"):
            continue
        mods.append(stem)
    return mods


def _read_pyproject(root: Path) -> dict[str, Any]:
    """Parse ``pyproject.toml``; a syntax error becomes a one-line :class:`ArtifactError`."""
    try:
        return tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ArtifactError(f"{root / 'pyproject.toml'}: invalid TOML: {exc}") from exc


def _static_dir(root: Path, packages: list[str]) -> Path | None:
    """First static directory found: ``static/`` at the top, else inside the (src/) package."""
    candidates = [root / "static"]
    for pkg in packages:
        candidates += [root / "src" / pkg / "static", root / pkg / "static"]
    return next((c for c in candidates if c.is_dir()), None)


def inspect_app(app_dir: str | os.PathLike[str], app_name: str | None = None) -> AppSource:
    """Find out what kind of app ``app_dir`` holds.

    :param app_dir: directory with a ``pyproject.toml`` or a ``requirements.txt``.
    :param app_name: name to use instead of the one in ``pyproject.toml`` (or the directory name);
        used exactly as given, never changed.
    :raises ArtifactError: when there is no app there, or the app name breaks the host contract's rule.
    """
    src = _inspect_app(app_dir, app_name)
    problem = host_contract.app_name_problem(src.name)
    if problem:
        hint = "" if app_name else f" (derived from the project name {src.dist!r}): pass --app-name NAME"
        raise ArtifactError(problem + hint)
    return src


def _inspect_app(app_dir: str | os.PathLike[str], app_name: str | None) -> AppSource:
    """:func:`inspect_app` without the name check."""
    root = Path(app_dir).resolve()
    if not root.is_dir():
        raise ArtifactError(f"app directory {app_dir} does not exist")
    requirements = root / "requirements.txt"
    requirements = requirements if requirements.is_file() else None
    if (root / "pyproject.toml").is_file():
        dist = _read_pyproject(root).get("project", {}).get("name")
        if not dist:
            raise ArtifactError(f"{root / 'pyproject.toml'} has no [project] name: add one")
        src = root / "src" if (root / "src").is_dir() else root
        modules = _find_packages(src) or _flat_modules(src)
        name = app_name or _normalize(dist)
        return AppSource(root, name, _normalize(dist), "pyproject", requirements, _static_dir(root, modules), modules)
    if requirements is None:
        raise ArtifactError(f"no Python app in {root}: expected a pyproject.toml or a requirements.txt")
    modules = _find_packages(root) + _flat_modules(root)
    if not modules:
        raise ArtifactError(f"{root} has a requirements.txt but no Python module or package next to it")
    name = app_name or _normalize(root.name)
    return AppSource(root, name, _normalize(name), "requirements", requirements, _static_dir(root, modules), modules)


def _module_source(src: AppSource, module: str) -> Path | None:
    """Path of the file that defines top-level ``module`` (package ``__init__`` or flat file)."""
    for base in (src.root / "src", src.root):
        for candidate in (base / module / "__init__.py", base / f"{module}.py"):
            if candidate.is_file():
                return candidate
    return None


def _wsgi_in(path: Path) -> str | None:
    """``create_app()``, ``application`` or ``app`` when the module defines one (by parsing, not importing)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError):
        return None
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assigned = {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    if "create_app" in functions:
        return "create_app()"
    return next((obj for obj in ("application", "app") if obj in assigned), None)


def guess_wsgi(src: AppSource) -> str:
    """The WSGI entry point ``module:object`` of an app, preferring the module named like the app."""
    preferred = src.dist.replace("-", "_")
    ordered = sorted(src.modules, key=lambda m: (m != preferred, m))
    for module in ordered:
        path = _module_source(src, module)
        obj = _wsgi_in(path) if path else None
        if obj:
            return f"{module}:{obj}"
    raise ArtifactError(
        f"cannot find the WSGI entry point of {src.root} (no create_app(), application or app in"
        f" {', '.join(ordered)}): pass --wsgi MODULE:OBJECT"
    )


# --------------------------------------------------------------------------- wheelhouse


def _copy_source(src: AppSource, dest: Path) -> None:
    """Copy the app without caches or old build output, so stale files never reach the wheel."""
    shutil.copytree(src.root, dest, ignore=lambda d, names: [n for n in names if _skip(Path(d) / n)])


def _requirement_lines(path: Path, seen: set[Path] | None = None) -> list[str]:
    """Plain requirement specifiers of a requirements file (``-r`` followed, options dropped)."""
    seen = seen or set()
    if path in seen:
        return []
    seen.add(path)
    lines: list[str] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = re.split(r"(^|\s)#", raw)[0].strip()
        if not line:
            continue
        if line.startswith(("-r ", "--requirement ", "-r", "--requirement=")):
            ref = re.sub(r"^(-r|--requirement)[ =]?", "", line).strip()
            lines += _requirement_lines((path.parent / ref).resolve(), seen)
        elif line.startswith(("-e", "--editable")) or "://" in line:
            raise ArtifactError(f"{path}: editable or URL requirements cannot go in an artifact: {line}")
        elif not line.startswith("-"):
            lines.append(line.split(" --", 1)[0].split(";", 1)[0].strip() + _marker(line))
    return lines


def _marker(line: str) -> str:
    """The environment marker of a requirement line (``; python_version < '3.12'``), or ``''``."""
    return f"; {line.split(';', 1)[1].split(' --', 1)[0].strip()}" if ";" in line else ""


def _write_wrapper_pyproject(src: AppSource, build_dir: Path) -> None:
    """Turn a flat requirements.txt app into an installable distribution named like the app."""
    deps = _requirement_lines(src.requirements)
    packages = _find_packages(build_dir)
    flat = [m for m in src.modules if m not in packages]
    version_file = build_dir / "VERSION"
    version = version_file.read_text(encoding="utf-8").strip() if version_file.is_file() else "0.0.0"
    text = (
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f"[project]\nname = {json.dumps(src.dist)}\nversion = {json.dumps(version)}\n"
        f"dependencies = {json.dumps(deps)}\n\n"
        f"[tool.setuptools]\npy-modules = {json.dumps(flat)}\npackages = {json.dumps(packages)}\n\n"
        '[tool.setuptools.package-data]\n"*" = ["*", "**/*"]\n'
    )
    (build_dir / "pyproject.toml").write_text(text, encoding="utf-8")


def _pip_wheel(build_dir: Path, requirements: Path | None, wheel_dir: Path, epoch: int) -> None:
    """``pip wheel`` the app and its requirements into ``wheel_dir`` (pip's cache makes reruns fast)."""
    cmd = [sys.executable, "-m", "pip", "wheel", "--disable-pip-version-check", "--progress-bar", "off",
           "--wheel-dir", str(wheel_dir), str(build_dir)]  # fmt: skip
    if requirements is not None:
        cmd += ["-r", str(requirements)]
    # NOTE: SOURCE_DATE_EPOCH makes setuptools/wheel write fixed zip timestamps: a reproducible app wheel.
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(epoch), PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        errors = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if "error" in ln.lower()]
        detail = errors[0] if errors else (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ArtifactError(f"pip wheel failed for {build_dir.name}: {detail}")


def _add_wsgi_server(wheel_dir: Path, epoch: int) -> list[str]:
    """Put the pinned WSGI server in the wheelhouse unless the app's dependencies brought one.

    :returns: the requirements the host installs besides the app (``[]`` or the pin).
    """
    if any(w.name.lower().startswith(WSGI_SERVER + "-") for w in wheel_dir.glob("*.whl")):
        return []
    cmd = [sys.executable, "-m", "pip", "wheel", "--disable-pip-version-check", "--progress-bar", "off",
           "--wheel-dir", str(wheel_dir), WSGI_SERVER_PIN]  # fmt: skip
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(epoch), PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        detail = next((ln for ln in lines if "error" in ln.lower()), lines[-1] if lines else "no output")
        raise ArtifactError(
            f"the app does not depend on {WSGI_SERVER}, which its unit runs, and {WSGI_SERVER_PIN} could not be"
            f" added to the wheelhouse ({detail}): add {WSGI_SERVER} to the app's dependencies"
        )
    return [WSGI_SERVER_PIN]


def _app_wheel_version(wheel_dir: Path, name: str) -> str:
    """Version of the app's own wheel, read from its file name (authoritative, even if dynamic)."""
    prefix = re.sub(r"[-_.]+", "_", name).lower() + "-"
    for wheel in sorted(wheel_dir.glob("*.whl")):
        if wheel.name.lower().startswith(prefix):
            return wheel.name[len(prefix) :].split("-", 1)[0]
    raise ArtifactError(f"pip wheel built no wheel named {name!r}: is the app's [project] name {name!r}?")


# --------------------------------------------------------------------------- manifest and tarball


def _sha256(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _payload_files(stage: Path) -> list[str]:
    """Relative POSIX paths of every file under ``stage``, sorted."""
    return sorted(p.relative_to(stage).as_posix() for p in stage.rglob("*") if p.is_file())


def _manifest(src: AppSource, version: str, release_id: str, wsgi: str, epoch: int, stage: Path) -> dict[str, Any]:
    """The manifest: what the host verifies and installs."""
    return {
        "format": MANIFEST_FORMAT,
        "app": src.name,
        "version": version,
        "release_id": release_id,
        "wsgi": wsgi,
        "requirement": f"{src.dist}=={version}",
        "static": "static" if (stage / "static").is_dir() else None,
        "python": "%d.%d" % sys.version_info[:2],
        "created": dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "builder": f"flaskfleet {__version__}",
        "files": {rel: _sha256(stage / rel) for rel in _payload_files(stage)},
    }


def _tar_entries(stage: Path) -> Iterable[tuple[str, Path]]:
    """Directories and files under ``stage`` in sorted order (parents before children)."""
    for path in sorted(stage.rglob("*"), key=lambda p: p.relative_to(stage).as_posix()):
        yield path.relative_to(stage).as_posix(), path


def _tarinfo(
    name: str, epoch: int, *, size: int = 0, is_dir: bool = False, executable: bool = False
) -> tarfile.TarInfo:
    """A normalised tar header: root-owned, fixed mtime, only 0644/0755 modes."""
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
    info.mode = 0o755 if (is_dir or executable) else 0o644
    info.size, info.mtime = size, epoch
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _write_tarball(stage: Path, manifest_bytes: bytes, dest: Path, epoch: int) -> None:
    """Write the reproducible ``.tar.gz`` (manifest first) to a temp file, then rename it into place."""
    tmp = dest.with_name(f".{dest.name}.tmp")
    with (
        tmp.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar,
    ):
        tar.addfile(_tarinfo(MANIFEST_NAME, epoch, size=len(manifest_bytes)), io.BytesIO(manifest_bytes))
        for name, path in _tar_entries(stage):
            if path.is_dir():
                tar.addfile(_tarinfo(name, epoch, is_dir=True))
                continue
            info = _tarinfo(name, epoch, size=path.stat().st_size, executable=os.access(path, os.X_OK))
            with path.open("rb") as fh:
                tar.addfile(info, fh)
    os.replace(tmp, dest)


def read_manifest(artifact_path: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of a built artifact (for tasks that want to show what they deploy)."""
    try:
        with tarfile.open(artifact_path, "r:gz") as tar:
            member = tar.extractfile(MANIFEST_NAME)
            return json.loads(member.read().decode("utf-8"))
    except (OSError, KeyError, tarfile.TarError, ValueError) as exc:
        raise ArtifactError(f"{artifact_path} is not a flaskfleet artifact: {exc}") from exc


# --------------------------------------------------------------------------- build


def _stage_static(src: AppSource, stage: Path) -> None:
    """Copy the app's static files to ``static/`` in the artifact."""
    if src.static_dir is not None:
        shutil.copytree(
            src.static_dir, stage / "static", ignore=lambda d, names: [n for n in names if n.startswith(".")]
        )


def build(
    app_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    release_id: str | None = None,
    wsgi: str | None = None,
    app_name: str | None = None,
) -> Artifact:
    """Build the artifact of the app in ``app_dir`` into ``out_dir``.

    :param app_dir: the app (``pyproject.toml`` or ``requirements.txt``).
    :param out_dir: where ``<app>-<release_id>.tar.gz`` is written (created if missing).
    :param release_id: the release id; default: now, UTC, ``YYYYMMDDTHHMMSSZ``.
    :param wsgi: WSGI entry point ``module:object`` (``hello:create_app()``); default: guessed.
    :param app_name: app name to use instead of the project's.
    :returns: the :class:`Artifact`.
    :raises ArtifactError: with a message that says what to fix.
    """
    release_id = validate_release_id(release_id) if release_id else new_release_id()
    if wsgi is not None and not _WSGI_RE.match(wsgi):
        raise ArtifactError(f"invalid WSGI entry point {wsgi!r}: expected MODULE:OBJECT or MODULE:FACTORY()")
    src = inspect_app(app_dir, app_name)
    wsgi = wsgi or guess_wsgi(src)
    epoch = _release_epoch(release_id)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="flaskfleet-artifact-") as tmp:
        build_dir, stage = Path(tmp) / src.dist, Path(tmp) / "stage"
        _copy_source(src, build_dir)
        if src.kind == "requirements":
            _write_wrapper_pyproject(src, build_dir)
        _pip_wheel(build_dir, src.requirements, stage / "wheels", epoch)
        server = _add_wsgi_server(stage / "wheels", epoch)
        _stage_static(src, stage)
        manifest = _manifest(src, _app_wheel_version(stage / "wheels", src.dist), release_id, wsgi, epoch, stage)
        if server:
            # NOTE: only when added, so artifacts of apps that bring gunicorn stay byte-identical.
            manifest["extra_requirements"] = server
        manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")
        dest = out / f"{src.name}-{release_id}.tar.gz"
        _write_tarball(stage, manifest_bytes, dest, epoch)
    return Artifact(path=dest.resolve(), sha256=_sha256(dest), manifest=manifest, release_id=release_id, app=src.name)


# --------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    """``python -m flaskfleet.artifact build|show``."""
    parser = argparse.ArgumentParser(prog="python -m flaskfleet.artifact", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build the artifact of an app")
    b.add_argument("app_dir", help="app directory (pyproject.toml or requirements.txt)")
    b.add_argument("--out", required=True, help="output directory")
    b.add_argument("--release-id", help="release id (default: now, UTC, YYYYMMDDTHHMMSSZ)")
    b.add_argument("--suffix", help="suffix for a generated release id (YYYYMMDDTHHMMSSZ-<suffix>)")
    b.add_argument("--wsgi", help="WSGI entry point MODULE:OBJECT (default: guessed)")
    b.add_argument("--app-name", help="app name (default: the project's name or the directory name)")
    b.add_argument("--json", action="store_true", help="print a JSON summary instead of the path")
    s = sub.add_parser("show", help="print the manifest of an artifact")
    s.add_argument("artifact")
    return parser


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; errors are one line on stderr and exit status 2."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "show":
            print(json.dumps(read_manifest(args.artifact), indent=2, sort_keys=True))
            return 0
        if args.release_id and args.suffix:
            raise ArtifactError("give either --release-id or --suffix, not both")
        release_id = args.release_id or (new_release_id(args.suffix) if args.suffix else None)
        artifact = build(args.app_dir, args.out, release_id=release_id, wsgi=args.wsgi, app_name=args.app_name)
    except ArtifactError as exc:
        print(f"flaskfleet.artifact: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(artifact.as_dict(), indent=2, sort_keys=True) if args.json else artifact.path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
