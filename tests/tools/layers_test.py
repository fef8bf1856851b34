#!/usr/bin/env python3
"""Every #include of a project header points down a layer (docs/DESIGN.md, "Layers").

Layers, bottom up: src/core (vocabulary) < src/pacing, src/http, storage (pure logic and the
journal; none sees another) < actors < src/app (the process: main, configuration, logging,
Discord client, wiring). A file may include headers of its own folder and of lower layers only.
Usage: layers_test.py <source root>. Exit 1 naming every include that points up or sideways.
"""
import pathlib
import re
import sys

LAYERS = {"src/core": 0, "src/pacing": 1, "src/http": 1, "storage": 1, "actors": 2, "src/app": 3}


def folder_of(path):
    for folder in sorted(LAYERS, key=len, reverse=True):
        if path == folder or path.startswith(folder + "/"):
            return folder
    return None


def main():
    root = pathlib.Path(sys.argv[1])
    problems, checked = [], 0
    for folder in LAYERS:
        for source in sorted((root / folder).rglob("*")):
            if source.suffix not in (".hpp", ".cpp"):
                continue
            own = folder_of(source.relative_to(root).as_posix())
            text = source.read_text(encoding="utf-8")
            for number, line in enumerate(text.splitlines(), 1):
                match = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                if not match:
                    continue
                target = folder_of(match.group(1))
                if target is None:
                    continue  # generated (dashboard_html.inc) or not a project header
                checked += 1
                if target != own and LAYERS[target] >= LAYERS[own]:
                    problems.append(f"{source.relative_to(root)}:{number}: {own} (layer "
                                    f"{LAYERS[own]}) includes {match.group(1)} (layer {LAYERS[target]})")
    for problem in problems:
        print(problem)
    print(f"{checked} project includes checked, {len(problems)} pointing up or sideways")
    return 1 if problems or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
