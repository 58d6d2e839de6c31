#!/usr/bin/env python3
"""CPU by process over an interval, with run-queue waits: run it while a load test runs.

    loadtest/scripts/cpu-by-process.py SECONDS

For every process that ran more than 2 % of the interval: seconds running and seconds waiting
on the run queue (summed over its threads, from /proc/<pid>/task/*/schedstat), CPU seconds
(utime + stime from /proc/<pid>/stat), pid, name and command line. Unlike the harness's own
report, this shows each PostgreSQL backend and Redis apart from the rest of the box; a
thread's run-queue wait includes the wake-up of an idle vCPU.
"""
import os
import sys
import time


def snapshot():
    procs = {}
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            stat = open(f'/proc/{pid}/stat').read()
            comm = stat[stat.index('(') + 1:stat.rindex(')')]
            fields = stat[stat.rindex(')') + 2:].split()
            cpu = (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')
            run = wait = 0
            for tid in os.listdir(f'/proc/{pid}/task'):
                try:
                    ran, waited, _ = open(f'/proc/{pid}/task/{tid}/schedstat').read().split()
                    run += int(ran)
                    wait += int(waited)
                except (OSError, ValueError):
                    pass
            cmd = open(f'/proc/{pid}/cmdline').read().replace('\0', ' ')[:60]
            procs[pid] = (comm, cpu, run / 1e9, wait / 1e9, cmd)
        except (OSError, ValueError):
            pass
    return procs


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    secs = float(sys.argv[1])
    before = snapshot()
    time.sleep(secs)
    after = snapshot()
    rows = []
    for pid, (comm, cpu, run, wait, cmd) in after.items():
        if pid in before:
            ran = run - before[pid][2]
            if ran > 0.02 * secs:
                rows.append((ran, wait - before[pid][3], cpu - before[pid][1], pid, comm, cmd))
    rows.sort(reverse=True)
    print(f"{'run s':>7} {'wait s':>7} {'cpu s':>6}  pid name / command (over {secs:g} s)")
    for ran, waited, cpu, pid, comm, cmd in rows[:25]:
        print(f'{ran:7.2f} {waited:7.2f} {cpu:6.2f}  {pid} {comm} / {cmd}')


if __name__ == '__main__':
    main()
