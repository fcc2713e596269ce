"""The golden vectors of docs/protocol.md, read from the doc itself."""

import json
import re
from pathlib import Path

PROTOCOL_DOC = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"


def golden(kind: str) -> list[dict]:
    """Every ```golden-<kind> block of the protocol doc, parsed."""
    text = PROTOCOL_DOC.read_text(encoding="utf-8")
    blocks = re.findall(rf"```golden-{kind}\n(.*?)\n```", text, flags=re.S)
    assert blocks, f"no golden-{kind} vectors in {PROTOCOL_DOC}"
    return [json.loads(b) for b in blocks]
