"""CPU time of a process from /proc, for the benchmark scripts."""
import os


def cpu_seconds(pid):
    """User + system CPU seconds the process has used so far (0 when no pid is given)."""
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
