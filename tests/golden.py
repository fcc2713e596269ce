"""The golden vectors of docs/protocol.md (and of docs/witmotion.md), read from the docs."""

import json
import re
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"
PROTOCOL_DOC = DOCS / "protocol.md"


def golden(kind: str, doc: Path = PROTOCOL_DOC) -> list[dict]:
    """Every ```golden-<kind> block of a doc (the protocol doc unless named), parsed."""
    text = doc.read_text(encoding="utf-8")
    blocks = re.findall(rf"```golden-{kind}\n(.*?)\n```", text, flags=re.S)
    assert blocks, f"no golden-{kind} vectors in {doc}"
    return [json.loads(b) for b in blocks]
