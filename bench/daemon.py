#!/usr/bin/env python3
"""Daemon budget: time to READY, peak RSS per indexed clip, and CPU while 8 cameras write 10 s
segments (the steady state of a recorder: as many clips expire as arrive).

    python3 bench/daemon.py [--cameras 8] [--days 7] [--segment 10] [--minutes 5] [--out DIR]

Builds nothing: run `cargo build --release` first. Times are monotonic; CPU is the daemon's
utime+stime from /proc, extrapolated to an hour.
"""
import argparse, datetime, os, signal, socket, subprocess, sys, time

here = os.path.dirname(os.path.abspath(__file__))
binary = os.path.join(here, "..", "target", "release", "clipwarden")

p = argparse.ArgumentParser()
p.add_argument("--cameras", type=int, default=8)
p.add_argument("--days", type=float, default=7)
p.add_argument("--segment", type=int, default=10)
p.add_argument("--minutes", type=float, default=5)
p.add_argument("--out", default=os.path.join(here, "out", "daemon"))
a = p.parse_args()

root = os.path.join(a.out, f"tree-{a.cameras}-{a.days}-{a.segment}")
os.makedirs(a.out, exist_ok=True)
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
if not os.path.isdir(root):
    print(f"making {root}", file=sys.stderr)
    subprocess.run([sys.executable, os.path.join(here, "mktree.py"), root, "--layout", "frigate",
                    "--cameras", str(a.cameras), "--days", str(a.days), "--segment-seconds", str(a.segment),
                    "--now", now.strftime("%Y-%m-%dT%H:%M:%S")], check=True, stdout=subprocess.DEVNULL)
files = sum(len(f) for _, _, f in os.walk(root))
state = os.path.join(a.out, "state")
subprocess.run(["rm", "-rf", state], check=True)
config = os.path.join(a.out, "daemon.toml")
with open(config, "w") as f:
    f.write(f'timezone = "UTC"\nstate_dir = "{state}"\n[[root]]\npath = "{root}"\nlayout = "frigate"\n')

sock_path = os.path.join(a.out, "notify.sock")
if os.path.exists(sock_path):
    os.unlink(sock_path)
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(sock_path)
sock.settimeout(600)

env = dict(os.environ, NOTIFY_SOCKET=sock_path, CLIPWARDEN_LOG="warn")
t0 = time.monotonic()
proc = subprocess.Popen([binary, "--config", config, "run"], env=env)
while True:
    msg = sock.recv(4096).decode()
    if "READY=1" in msg:
        break
ready = time.monotonic() - t0

def status(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key):
            return int(line.split()[1])

def cpu(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

hwm_kib = status(proc.pid, "VmHWM")
clips = int(msg.split("STATUS=")[1].split(" ")[0])

# The steady state: each camera writes a segment every `segment` seconds, as Frigate does.
c0, w0 = cpu(proc.pid), time.monotonic()
written = 0
deadline = w0 + a.minutes * 60
while time.monotonic() < deadline:
    t = datetime.datetime.now(datetime.timezone.utc)
    for cam in range(a.cameras):
        d = os.path.join(root, t.strftime("%Y-%m-%d/%H"), f"cam{cam + 1:02d}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, t.strftime("%M.%S.mp4")), "wb") as f:
            f.write(b"\0" * 4096)
        written += 1
    time.sleep(max(0.0, a.segment - (time.monotonic() - w0) % a.segment))
spent, wall = cpu(proc.pid) - c0, time.monotonic() - w0
hwm_after = status(proc.pid, "VmHWM")
proc.send_signal(signal.SIGTERM)
code = proc.wait(timeout=30)

report = f"""# clipwarden daemon budget

Tree: {files:,} files ({a.cameras} cameras, {a.days} days of {a.segment} s segments, frigate layout).

| figure | value | goal |
| --- | ---: | ---: |
| time to READY (scan, index, start-up pass) | {ready:.2f} s | |
| peak RSS at READY | {hwm_kib / 1024:.1f} MiB | |
| peak RSS per indexed clip | {hwm_kib * 1024 / max(clips, 1):.0f} bytes | 100 bytes |
| CPU while {a.cameras} cameras write (and as many clips expire), per hour | {spent / wall * 3600:.2f} s | 1 s |
| peak RSS after {a.minutes:g} min of that | {hwm_after / 1024:.1f} MiB | |

{written} segments written in {wall:.0f} s; the daemon used {spent:.2f} s of CPU; it exited {code} on SIGTERM.
"""
open(os.path.join(a.out, "results.md"), "w").write(report)
print(report)
