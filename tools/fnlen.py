"""Lists the functions longer than N lines under a folder (CONTRIBUTING.md: none over 100).

    python3 tools/fnlen.py src 100

A function runs from its `fn` line to the closing brace at the same indentation; prints
`lines path line name`, longest first, and nothing when every function fits.
"""
import os
import re
import sys

FN = re.compile(r'^(\s*)(pub(\([a-z]+\))? )?(const )?(async )?(unsafe )?fn (\w+)')


def long_functions(root, limit):
    found = []
    for folder, _, files in os.walk(root):
        for name in files:
            if not name.endswith('.rs'):
                continue
            path = os.path.join(folder, name)
            lines = open(path, encoding='utf-8').read().split('\n')
            for i, line in enumerate(lines):
                m = FN.match(line)
                if not m or line.rstrip().endswith(';'):
                    continue
                end = next((j for j in range(i + 1, len(lines)) if lines[j] == m.group(1) + '}'), None)
                if end is not None and end - i + 1 > limit:
                    found.append((end - i + 1, path, i + 1, m.group(7)))
    return sorted(found, reverse=True)


if __name__ == '__main__':
    for row in long_functions(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 100):
        print(*row)
