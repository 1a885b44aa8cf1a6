"""Checks the artefacts `sam build` made (`make package`): for every function of the template,
`<build dir>/<LogicalId>/bootstrap` exists, is a 64-bit ELF executable of the template's
architecture, and answers an invocation under the Lambda Runtime API emulator against moto's
server with the template's resources and environment (the same events as the cold-start
benchmark, each with its expected answer).

    python tests/deploy/package_check.py --build-dir .aws-sam/build --architecture x86_64

Exits non-zero, naming the function and the reason, on the first artefact that fails.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from emulated import EmulatedStack, answered_well, first_invocations  # noqa: E402

# ELF e_machine values (System V ABI): x86-64 and AArch64.
MACHINES = {"x86_64": 62, "arm64": 183}


def elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    if header[:4] != b"\x7fELF":
        raise ValueError(f"{path} is not an ELF file")
    if header[4] != 2:
        raise ValueError(f"{path} is not a 64-bit ELF file")
    # ET_EXEC, or ET_DYN for a position-independent executable (what rustc links by default).
    if int.from_bytes(header[16:18], "little") not in (2, 3):
        raise ValueError(f"{path} is not an ELF executable (e_type {int.from_bytes(header[16:18], 'little')})")
    return int.from_bytes(header[18:20], "little")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, required=True)
    parser.add_argument("--architecture", choices=sorted(MACHINES), required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ravis-package-") as work:
        stack = EmulatedStack(Path(work), start_functions=False)
        try:
            events = first_invocations(stack)
            for logical in stack.stack.functions():
                bootstrap = args.build_dir / logical / "bootstrap"
                if not bootstrap.is_file():
                    print(f"package: {logical}: {bootstrap} is missing")
                    return 1
                machine = elf_machine(bootstrap)
                if machine != MACHINES[args.architecture]:
                    print(f"package: {logical}: ELF machine {machine}, expected {MACHINES[args.architecture]} ({args.architecture})")
                    return 1
                if args.architecture == "arm64":
                    print(f"package: {logical}: arm64 ELF; not run on this machine")
                    continue
                function = stack.launch(logical, binary=bootstrap)
                try:
                    ok, answer = function.invoke(events[logical])
                    if not ok or not answered_well(logical, answer):
                        print(f"package: {logical}: answered {answer}\n{function.log_text()}")
                        return 1
                finally:
                    function.stop()
                size = bootstrap.stat().st_size / 1e6
                print(f"package: {logical}: {args.architecture} ELF, {size:.1f} MB, answered its invocation")
        finally:
            stack.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
