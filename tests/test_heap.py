"""The decoding process keeps the memory it frees for its next page (sitload.heap): checked by
the page faults of a real process that frees and makes again a page's worth of numpy arrays."""

import json
import subprocess
import sys

import pytest

SCRIPT = """
import json, resource, sys
import numpy as np
from sitload.heap import keep_freed_memory
if sys.argv[1] == "keep":
    keep_freed_memory()
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
