"""The decoding process keeps the memory it frees for its next page, and its heap is grown ahead
in huge pages (sitload.heap): checked by the page faults of a real process that makes, frees and
makes again a page's worth of numpy arrays."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import json, resource, sys
import numpy as np
from sitload.heap import keep_freed_memory
if sys.argv[1] in ("keep", "huge"):
    keep_freed_memory(ahead=0 if sys.argv[1] == "keep" else 64 << 20)
faults = []
for page in range(4):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    temporaries = [np.ones(200_000) * k for k in range(20)]     # 32 MB, then freed
    del temporaries
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps(faults))
"""


def faults(mode: str) -> list[int]:
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_memory_freed_is_reused_not_faulted_in_again():
    kept, default = faults("keep"), faults("default")
    page = 20 * 200_000 * 8 // 4096          # pages of memory a round touches
    assert kept[0] > page // 2               # the first round faults its memory in
    assert max(kept[1:]) < page // 20        # later rounds reuse it
    assert min(default[1:]) > page // 2      # without: every round faults it in again


def transparent_huge_pages() -> bool:
    setting = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    return setting.exists() and "[never]" not in setting.read_text()


@pytest.mark.skipif(not sys.platform.startswith("linux") or not transparent_huge_pages(),
                    reason="glibc's malloc, a kernel with transparent huge pages")
def test_the_heap_grown_ahead_is_faulted_in_huge_pages():
    huge, kept = faults("huge"), faults("keep")
    page = 20 * 200_000 * 8 // 4096
    assert kept[0] > page // 2               # 4 KiB pages: one fault each
    assert huge[0] < page // 4               # 2 MiB pages: a few hundred faults (some 4 KiB
    assert max(huge[1:]) < page // 20        # ones where the kernel had no huge page free)
