#!/usr/bin/env python3
"""peak_rss.py OUT_FILE CMD...: runs CMD, writes its peak resident memory (ru_maxrss, KiB) to
OUT_FILE and exits with CMD's status.

Why a launcher: Linux carries a process's peak RSS across exec, so a child started straight
from run.py (which holds PyTorch and the exported models, gigabytes) would report run.py's size
instead of its own. Started from this small interpreter, the command's figure is its own (never
below this launcher's ~10 MB).
"""
import os
import subprocess
import sys

proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
