"""scripts/bundle, the offline install archive (issue 16): built for real from the package index
(skipped, naming it, when the index is unreachable), installed by its install.sh with every index
closed, and the installed `hamn` run; the ppc64le archive holds only wheels Power can install;
a changed archive, the wrong Python and the wrong machine are refused before anything is installed.

Each archive is built once per session; pip's own cache keeps the downloads between sessions.
"""
from __future__ import annotations

import hashlib
import io
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.tags import Tag
from packaging.utils import canonicalize_name, parse_wheel_filename

from hamn_tui.sim.scenario import scenario_names

from .conftest import REPO

SCRIPT = REPO / "scripts" / "bundle"
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
HOST = platform.machine()
OTHER_ARCH = {"x86_64": "ppc64le", "ppc64le": "x86_64"}.get(HOST, "ppc64le")
HOST_PY = "%d.%d" % sys.version_info[:2]
OTHER_PY = "3.13" if HOST_PY == "3.12" else "3.12"
host_bundles = pytest.mark.skipif(HOST not in ("x86_64", "ppc64le"),
                                  reason=f"bundles are for x86_64 and ppc64le machines; this one is {HOST}")

# The network as the install sees it: no index, a dead one on loopback in case something ignores
# that, no proxy; and, where unshare can make one, no network at all (a private, empty namespace).
_NO_PROXY = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and k != "PYTHONPATH"}
CLOSED = {**_NO_PROXY, "PIP_NO_INDEX": "1", "PIP_INDEX_URL": "http://127.0.0.1:9/"}
NO_NETWORK = ["unshare", "--net"] if shutil.which("unshare") and subprocess.run(
    ["unshare", "--net", "true"], capture_output=True).returncode == 0 else []


def run_bundle(out: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), *args], capture_output=True, text=True,
                          timeout=900, env=env)


def skip_if_unreachable(proc: subprocess.CompletedProcess) -> None:
    if proc.returncode == 3:
        pytest.skip(f"package index unreachable: {proc.stderr.strip().splitlines()[-1]}")


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory):
    """The archive for (arch, python), built on first use."""
    made: dict[tuple[str, str], Path] = {}

    def make(arch: str, python: str = HOST_PY) -> Path:
        if (arch, python) not in made:
            out = tmp_path_factory.mktemp(f"bundle-{arch}-{python}")
            proc = run_bundle(out, "--arch", arch, "--python", python)
            skip_if_unreachable(proc)
            assert proc.returncode == 0, proc.stderr
            archive = Path(proc.stdout.strip())
            assert archive == out / f"hamn-{VERSION}-cp{python.replace('.', '')}-{arch}.tar.gz" and archive.is_file()
            made[(arch, python)] = archive
        return made[(arch, python)]

    return make


def unpack(archive: Path, where: Path) -> Path:
    with tarfile.open(archive) as tar:
        tar.extractall(where, filter="data")
    return where / archive.name.removesuffix(".tar.gz")


def install(unpacked: Path, venv: Path, python: str = sys.executable) -> subprocess.CompletedProcess:
    return subprocess.run([*NO_NETWORK, str(unpacked / "install.sh"), "--python", python, str(venv)], env=CLOSED,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="session")
def installed(bundle, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    where = tmp_path_factory.mktemp("installed")
    venv = where / "hamn"
    return venv, install(unpack(bundle(HOST), where), venv)


@host_bundles
def test_installs_with_every_index_closed(installed):
    venv, proc = installed
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Looking in indexes" not in proc.stdout, "pip looked at an index"
    assert f"hamn {VERSION} is installed in {venv}" in proc.stdout
    assert f"the command:   {venv}/bin/hamn" in proc.stdout and f"next: {venv}/bin/hamn train --list" in proc.stdout
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import hamn_tui; print(hamn_tui.__file__)"],
                           capture_output=True, text=True, cwd=venv, env=CLOSED)
    assert Path(where.stdout.strip()).is_relative_to(venv), "hamn came from somewhere else than the new virtualenv"


@host_bundles
def test_the_installed_hamn_validates_the_shipped_runbooks_and_example(installed):
    venv, proc = installed
    assert proc.returncode == 0, proc.stderr
    share = venv / "share" / "hamn"
    out = subprocess.run([str(venv / "bin" / "hamn"), "validate", str(share / "runbooks"), str(share / "examples" / "cluster.toml")],
                         capture_output=True, text=True, cwd=venv, env=CLOSED, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    ok = [l for l in out.stdout.splitlines() if ": ok: " in l]
    assert len(ok) == len(out.stdout.splitlines())
    assert {Path(l.split(":")[0]).stem for l in ok if ": ok: runbook " in l} == {p.stem for p in (REPO / "runbooks").glob("*.toml")}
    assert [l for l in ok if ": ok: cluster " in l] == [f"{share}/examples/cluster.toml: ok: cluster \"xcat-hamn\" (db2), 4 nodes"]


@host_bundles
def test_the_installed_hamn_lists_the_training_scenarios(installed):
    venv, proc = installed
    assert proc.returncode == 0, proc.stderr
    out = subprocess.run([str(venv / "bin" / "hamn"), "train", "--list"], capture_output=True, text=True, cwd=venv,
                         env=CLOSED, timeout=120)
    assert out.returncode == 0, out.stderr
    listed = [l.split()[0] for l in out.stdout.splitlines() if l.strip()]
    assert listed == scenario_names() and len(listed) >= 13
    assert any(l.startswith("primary-node-crash ") and "HADR_TIMEOUT" in l for l in out.stdout.splitlines())


@host_bundles
def test_the_archive_holds_wheels_install_sh_readme_and_a_manifest_of_all_of_them(bundle):
    archive = bundle(HOST)
    stem = archive.name.removesuffix(".tar.gz")
    with tarfile.open(archive) as tar:
        members = {m.name.removeprefix(f"{stem}/"): m for m in tar.getmembers()}
        data = {name: tar.extractfile(m).read() for name, m in members.items()}
    assert all(m.name.startswith(f"{stem}/") for m in members.values())
    assert {"README", "install.sh", "MANIFEST"} <= set(members) and members["install.sh"].mode == 0o755
    assert {n for n in members if n.startswith("wheels/")} == set(members) - {"README", "install.sh", "MANIFEST"}
    manifest = dict(reversed(l.split("  ", 1)) for l in data["MANIFEST"].decode().splitlines())
    assert manifest == {name: hashlib.sha256(blob).hexdigest() for name, blob in data.items() if name != "MANIFEST"}
    assert f"CPython {HOST_PY} on Linux {HOST}" in data["README"].decode()


Bundled = dict[str, tuple[str, frozenset[Tag], list[Requirement]]]


def bundled_wheels(archive: Path) -> Bundled:
    """name -> (version, tags, Requires-Dist) of every wheel in the archive."""
    wheels: Bundled = {}
    with tarfile.open(archive) as tar:
        for m in tar.getmembers():
            if m.name.endswith(".whl"):
                name, version, _, tags = parse_wheel_filename(Path(m.name).name)
                blob = tar.extractfile(m)
                assert blob is not None
                with zipfile.ZipFile(io.BytesIO(blob.read())) as zf:  # a gzip stream seeks slowly
                    meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
                    requires = Parser().parsestr(zf.read(meta).decode()).get_all("Requires-Dist") or []
                assert name not in wheels, f"two wheels of {name}"
                wheels[name] = (str(version), tags, [Requirement(r) for r in requires])
    return wheels


def unmet(wheels: Bundled, arch: str, python: str) -> list[str]:
    """hamn's requirements (markers read for the target, extras followed) that no wheel here satisfies."""
    env = {"platform_machine": arch, "python_version": python, "python_full_version": f"{python}.0",
           "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix", "implementation_name": "cpython",
           "platform_python_implementation": "CPython"}
    missing: list[str] = []
    seen: set[tuple[str, str]] = set()
    todo = [(Requirement(f"hamn-tui=={VERSION}"), "")]
    while todo:
        req, extra = todo.pop()
        if req.marker and not req.marker.evaluate({**env, "extra": extra}):
            continue
        name = canonicalize_name(req.name)
        if name not in wheels or not req.specifier.contains(wheels[name][0], prereleases=True):
            missing.append(str(req))
            continue
        for want in {"", *req.extras} - {e for n, e in seen if n == name}:
            seen.add((name, want))
            todo += [(dep, want) for dep in wheels[name][2]]
    return missing


@pytest.mark.parametrize("arch", ["x86_64", "ppc64le"])
def test_every_wheel_installs_on_the_target_and_nothing_is_missing(bundle, arch: str):
    wheels = bundled_wheels(bundle(arch))
    for name, (_, tags, _) in wheels.items():
        platforms = {t.platform for t in tags}
        assert platforms == {"any"} or all(p.endswith(f"_{arch}") and p.startswith("manylinux") for p in platforms), (name, platforms)
        assert any(t.interpreter in ("py3", f"cp{HOST_PY.replace('.', '')}") or t.abi == "abi3" for t in tags), (name, tags)
    assert {"hamn-tui", "textual", "asyncssh", "cryptography", "cffi", "pydantic-core", "psycopg2-binary"} <= set(wheels)
    assert wheels["textual"][0] == "8.2.8"
    assert ("ibm-db" in wheels) == (arch != "ppc64le"), "ibm_db publishes no ppc64le wheel; elsewhere it belongs in the bundle"
    assert unmet(wheels, arch, HOST_PY) == []
    assert {n for n, (_, tags, _) in wheels.items() if {t.platform for t in tags} != {"any"}} >= {
        "cryptography", "cffi", "pydantic-core", "psycopg2-binary"}


def test_a_dependency_without_a_wheel_for_the_target_stops_the_bundle_naming_it(tmp_path: Path):
    """cryptography's ppc64le wheels need glibc 2.28: for 2.17 there is none, and nothing is written."""
    proc = run_bundle(tmp_path, "--arch", "ppc64le", "--glibc", "2.17")
    skip_if_unreachable(proc)
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"scripts/bundle: no wheel for Linux ppc64le, CPython {HOST_PY}, glibc 2.17 of: "
                           "cryptography (needed by asyncssh); nothing written"), last
    assert "Traceback" not in proc.stderr and list(tmp_path.iterdir()) == []


def test_an_unreachable_index_is_named_and_nothing_is_written(tmp_path: Path):
    env = {**{k: v for k, v in _NO_PROXY.items() if not k.startswith("PIP_")},
           "PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": "http://127.0.0.1:9/", "PIP_RETRIES": "0"}
    proc = run_bundle(tmp_path / "out", env=env)
    assert proc.returncode == 3, proc.stderr
    assert "scripts/bundle: package index unreachable while " in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def _flip_a_byte(d: Path) -> str:
    wheel = next((d / "wheels").glob("hamn_tui-*.whl"))
    blob = bytearray(wheel.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    wheel.write_bytes(bytes(blob))
    return f"wheels/{wheel.name}: SHA-256 does not match MANIFEST"


def _add_a_wheel(d: Path) -> str:
    shutil.copy(next((d / "wheels").glob("click-*.whl")), d / "wheels" / "click-99.0-py3-none-any.whl")
    return "wheels/click-99.0-py3-none-any.whl: not in MANIFEST"


def _remove_a_wheel(d: Path) -> str:
    wheel = next((d / "wheels").glob("cryptography-*.whl"))
    wheel.unlink()
    return f"wheels/{wheel.name}: in MANIFEST but missing"


@host_bundles
@pytest.mark.parametrize("tamper", [_flip_a_byte, _add_a_wheel, _remove_a_wheel], ids=["changed-byte", "added-wheel", "removed-wheel"])
def test_a_changed_archive_is_refused_before_anything_is_installed(bundle, tmp_path: Path, tamper):
    unpacked = unpack(bundle(HOST), tmp_path)
    expected = tamper(unpacked)
    proc = install(unpacked, tmp_path / "venv")
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"install.sh: {expected} - the archive was changed or damaged; nothing installed"
    assert not (tmp_path / "venv").exists()


@host_bundles
def test_the_wrong_python_is_refused(bundle, tmp_path: Path):
    unpacked = unpack(bundle(HOST, OTHER_PY), tmp_path)
    proc = install(unpacked, tmp_path / "venv")
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"install.sh: this bundle is for CPython {OTHER_PY}; {sys.executable} is CPython {platform.python_version()}. "
        f"Give a Python {OTHER_PY} with --python, or make a bundle for this one with scripts/bundle --python {HOST_PY}")
    assert not (tmp_path / "venv").exists()


@host_bundles
def test_the_wrong_machine_is_refused(bundle, tmp_path: Path):
    unpacked = unpack(bundle(OTHER_ARCH), tmp_path)
    proc = install(unpacked, tmp_path / "venv")
    assert proc.returncode == 1
    assert proc.stderr.strip() == (f"install.sh: this bundle is for {OTHER_ARCH}; this machine is {HOST}. "
                                   f"Make one for it with scripts/bundle --arch {HOST}")
    assert not (tmp_path / "venv").exists()


@host_bundles
def test_an_existing_directory_is_not_installed_over(bundle, tmp_path: Path):
    unpacked = unpack(bundle(HOST), tmp_path)
    (tmp_path / "venv").mkdir()
    (tmp_path / "venv" / "keep").write_text("mine")
    proc = install(unpacked, tmp_path / "venv")
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"install.sh: {tmp_path / 'venv'} exists and is not empty; give a new directory"
    assert [p.name for p in (tmp_path / "venv").iterdir()] == ["keep"]
