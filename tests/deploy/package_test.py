#!/usr/bin/env python3
"""Checks dist/ as scripts/package wrote it:

- the zip holds exactly `bootstrap`, an aarch64 ELF executable with mode 0755, and zipping the
  same bootstrap again gives the same bytes;
- dist/template.yaml equals template.yaml apart from the function's CodeUri (the zip, which
  exists next to it) and its build Metadata; SemanticVersion and the file names carry
  Cargo.toml's version;
- the command-line binaries are static ELF executables of their architecture;
- SHA256SUMS lists every other file with its digest.
`--self-test` checks that a broken dist/ fails.

Usage: package_test.py [DIST] [--self-test]   (run with .venv-tools/bin/python: cfn-lint's loader)
"""

import copy
import hashlib
import io
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

from cfnlint.decode import decode

ROOT = pathlib.Path(__file__).resolve().parents[2]
MACHINES = {"x86_64": 0x3E, "aarch64": 0xB7}


class Failure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failure(message)


def elf(data):
    """(is an ELF executable, e_machine, has a program interpreter)."""
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return False, None, None
    e_type = int.from_bytes(data[16:18], "little")
    machine = int.from_bytes(data[18:20], "little")
    phoff = int.from_bytes(data[32:40], "little")
    phentsize = int.from_bytes(data[54:56], "little")
    phnum = int.from_bytes(data[56:58], "little")
    interp = any(
        int.from_bytes(data[phoff + i * phentsize: phoff + i * phentsize + 4], "little") == 3
        for i in range(phnum)
    )
    return e_type in (2, 3), machine, interp


def plain(node):
    if isinstance(node, dict):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    return node


def load(path):
    template, matches = decode(str(path))
    check(template is not None and not matches, f"{path} does not parse: {matches}")
    return plain(template)


def run(dist):
    cargo = (ROOT / "Cargo.toml").read_text()
    version = re.search(r'^version = "([^"]+)"', cargo, re.M).group(1)
    zip_name = f"nowplaying-lambda-{version}-arm64.zip"
    zpath = dist / zip_name
    check(zpath.is_file(), f"{zip_name} missing in {dist}")
    with zipfile.ZipFile(zpath) as z:
        names = z.namelist()
        check(names == ["bootstrap"], f"the zip holds {names}, not only bootstrap")
        info = z.getinfo("bootstrap")
        check((info.external_attr >> 16) & 0o777 == 0o755, f"bootstrap's mode is {oct(info.external_attr >> 16)}")
        data = z.read("bootstrap")
    is_exec, machine, _ = elf(data)
    check(is_exec and machine == MACHINES["aarch64"], f"bootstrap is not an aarch64 ELF executable ({machine})")
    # The same bootstrap zipped again: the same bytes.
    with tempfile.TemporaryDirectory() as tmp:
        boot = pathlib.Path(tmp) / "bootstrap"
        boot.write_bytes(data)
        again = pathlib.Path(tmp) / "again.zip"
        subprocess.run([sys.executable, str(ROOT / "scripts" / "package.py"), "zip", str(boot), str(again)], check=True)
        check(again.read_bytes() == zpath.read_bytes(), "zipping the same bootstrap again gives other bytes")

    source = load(ROOT / "template.yaml")
    generated = load(dist / "template.yaml")
    fn = generated["Resources"]["NowPlayingFunction"]
    check(fn["Properties"].get("CodeUri") == zip_name, f"CodeUri is {fn['Properties'].get('CodeUri')!r}")
    check("Metadata" not in fn, "the generated function still has its build Metadata")
    expected = copy.deepcopy(source)
    expected["Resources"]["NowPlayingFunction"].pop("Metadata", None)
    expected["Resources"]["NowPlayingFunction"]["Properties"]["CodeUri"] = zip_name
    check(generated == expected, "dist/template.yaml differs from template.yaml beyond CodeUri and the build Metadata")
    sar = generated["Metadata"]["AWS::ServerlessRepo::Application"]
    check(str(sar["SemanticVersion"]) == version, f"SemanticVersion {sar['SemanticVersion']} is not {version}")

    for arch, machine in MACHINES.items():
        name = f"nowplaying-{version}-{arch}-linux"
        path = dist / name
        check(path.is_file(), f"{name} missing")
        is_exec, m, interp = elf(path.read_bytes())
        check(is_exec and m == machine, f"{name} is not an ELF executable of {arch}")
        check(not interp, f"{name} is dynamically linked (it has a program interpreter)")
        check(path.stat().st_mode & 0o111, f"{name} is not executable")

    sums = {}
    for line in (dist / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        sums[name.lstrip("*")] = digest
    files = {p.name for p in dist.iterdir() if p.name != "SHA256SUMS"}
    check(set(sums) == files, f"SHA256SUMS lists {sorted(sums)}, dist/ holds {sorted(files)}")
    for name, digest in sums.items():
        check(hashlib.sha256((dist / name).read_bytes()).hexdigest() == digest, f"{name}'s digest does not match")
    return version


def self_test(dist):
    def broken(mutate):
        with tempfile.TemporaryDirectory() as tmp:
            copy_dir = pathlib.Path(tmp) / "dist"
            shutil.copytree(dist, copy_dir)
            mutate(copy_dir)
            try:
                run(copy_dir)
            except Failure:
                return True
            return False

    version = re.search(r'^version = "([^"]+)"', (ROOT / "Cargo.toml").read_text(), re.M).group(1)

    def rezip_with(extra):
        def mutate(d):
            z = d / f"nowplaying-lambda-{version}-arm64.zip"
            data = zipfile.ZipFile(z).read("bootstrap")
            with zipfile.ZipFile(z, "w") as out:
                out.writestr("bootstrap", data)
                if extra:
                    out.writestr("extra.txt", "x")
        return mutate

    def edit_template(old, new):
        def mutate(d):
            t = d / "template.yaml"
            t.write_text(t.read_text().replace(old, new, 1))
        return mutate

    mutations = {
        "an extra file in the zip": rezip_with(True),
        "bootstrap without its mode": rezip_with(False),
        "a template that differs": edit_template("MemorySize: 128", "MemorySize: 256"),
        "a template with a resource of its own": edit_template("Resources:\n", "Resources:\n  X:\n    Type: AWS::SNS::Topic\n"),
        "a binary of the wrong architecture": lambda d: shutil.copy(
            d / f"nowplaying-{version}-x86_64-linux", d / f"nowplaying-{version}-aarch64-linux"),
        "a stale checksum": lambda d: (d / "SHA256SUMS").write_text(
            (d / "SHA256SUMS").read_text().replace("0", "1", 1)),
    }
    for name, mutate in mutations.items():
        if not broken(mutate):
            raise Failure(f"self-test: the check missed a broken dist/ ({name})")
    return len(mutations)


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    dist = pathlib.Path(args[0]) if args else ROOT / "dist"
    try:
        version = run(dist)
        print(f"package_test: dist/ of {version}: the arm64 zip (reproducible), the template equal to the source's "
              "apart from CodeUri and the build metadata, static x86_64 and aarch64 binaries, SHA256SUMS")
        if "--self-test" in argv:
            print(f"package_test: self-test: {self_test(dist)} broken dist/ folders were each caught")
    except Failure as e:
        print(f"package_test: FAIL: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
