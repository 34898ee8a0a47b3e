"""Keeps a LibreOffice from outliving the Python process that started it.

    python guard.py FOLDER COMMAND...     (standard input: a pipe from the starting process)

Starts COMMAND (soffice) in a process group of its own, prints that group's id, and waits for a
line: "stop" when the starter stops LibreOffice itself, or none when the pipe closes because
the starter ended in a way that ran none of its cleanup: SIGKILL, the out-of-memory killer, a
notebook kernel killed on restart. Then the guard ends the whole group (soffice's launcher and
soffice.bin), and in the second case also removes FOLDER, the starter's LibreOffice profiles.
Without it, such a soffice.bin ran on for good, holding its memory (190 MB after recalculating
graddesc.xlsx) and its profile in the temporary folder. It exits when the group's launcher
does, with its status.

It runs alone (`python -I -S`), on the standard library: a fresh interpreter that imports
nothing else starts in a few milliseconds, while soffice takes seconds.
"""

import os
import shutil
import signal
import subprocess
import sys
import threading


def _end(group: int) -> None:
    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass


def main(folder: str, command: list[str]) -> int:
    office = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    print(office.pid, flush=True)   # the group's id: soffice's launcher leads a session of its own
    closing = threading.Event()

    def follow() -> None:           # soffice ended on its own (crashed, killed): so does the guard
        status = office.wait()
        if not closing.is_set():
            _end(office.pid)
            os._exit(status if status >= 0 else 128 - status)

    threading.Thread(target=follow, daemon=True).start()
    said = sys.stdin.buffer.readline()   # "stop", or nothing once the pipe is closed: the starter ended
    closing.set()
    _end(office.pid)
    office.wait()
    if said.strip() != b"stop":      # the starter is gone: nobody else removes its profiles
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
