"""The processes whose command line holds a marker: what a grading test leaves running, if anything."""

from __future__ import annotations

import psutil


def marked_processes(marker: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if any(marker in part for part in process.info["cmdline"] or []):
                found.append(process)
        except psutil.Error:
            continue
    return found
