"""Runs a command and measures it as wait4 sees it, from a small launcher process.

On Linux a child's peak memory (ru_maxrss) starts from its parent's resident size when it
forks: exec keeps the larger of the two. A comparison script that holds a million-row answer
would lend that memory to every command it starts after, so the peer measured second showed
the script's own 669 MB. Here a fresh Python launcher (about 10 MB) forks the command, waits
for it, and reports its wall time, CPU time and peak memory on a pipe.
"""
import json, os, subprocess, sys

LAUNCH = r"""
import json, os, sys, time
fd = int(sys.argv[1])
t = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.close(fd)
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - t
os.write(fd, json.dumps([os.waitstatus_to_exitcode(status), wall, ru.ru_utime + ru.ru_stime,
                         ru.ru_maxrss / 1024]).encode())
"""


def measure(cmd):
    """Runs cmd: (exit code, stdout bytes, stderr bytes, wall s, CPU s, peak MB)."""
    r, w = os.pipe()
    p = subprocess.Popen([sys.executable, "-c", LAUNCH, str(w)] + list(cmd),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(w,))
    os.close(w)
    out, err = p.communicate()
    with os.fdopen(r, "rb") as f:
        report = f.read()
    if p.returncode != 0 or not report:
        return p.returncode or 1, out, err, 0.0, 0.0, 0.0
    code, wall, cpu, peak = json.loads(report)
    return code, out, err, wall, cpu, peak
