"""The stretch library used with break and stretch prompts (conservative care for deep gluteal syndrome)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Stretch:
    """One stretch or nerve glide; ``side`` is 'each' when it is done on both sides in turn."""

    id: str
    name: str
    position: str  # 'supine' | 'seated' | 'standing'
    side: str  # 'each' | 'left' | 'right' | 'both'
    steps: tuple[str, ...]
    duration_s: int  # hold (or glide set) per side

    def to_json(self) -> dict:
        return {"id": self.id, "name": self.name, "position": self.position, "side": self.side,
                "steps": list(self.steps), "duration_s": self.duration_s}


def stretch_lines(doc: dict) -> list[str]:
    """A stretch's ``to_json`` document as text: its name and hold, then the numbered steps."""
    each = " each side" if doc["side"] == "each" else ""
    return [f"{doc['name']} — {doc['duration_s']} s{each}:",
            *(f"{i}. {step}" for i, step in enumerate(doc["steps"], 1))]


STRETCHES: dict[str, Stretch] = {s.id: s for s in (
    Stretch("standing-hip-hinge", "Standing hip hinge", "standing", "both", (
        "Stand with feet hip-width apart, hands on your hips.",
        "Push your hips back with a straight back until you feel the back of your thighs.",
        "Return to upright by squeezing your buttocks; repeat slowly 8 times.",
    ), 30),
    Stretch("seated-figure-4", "Seated piriformis stretch (figure-4)", "seated", "each", (
        "Sit tall near the front of the chair, both feet flat.",
        "Rest the outer ankle on the opposite knee.",
        "Lean forward from the hips with a straight back until you feel a stretch in the buttock.",
        "Hold, breathing slowly; stop if you feel tingling or shooting pain.",
    ), 30),
    Stretch("supine-figure-4", "Supine piriformis stretch (figure-4)", "supine", "each", (
        "Lie on your back with both knees bent.",
        "Cross one ankle over the opposite knee.",
        "Pull the lower thigh gently toward your chest until you feel a stretch in the buttock.",
        "Hold, breathing slowly; stop if you feel tingling or shooting pain.",
    ), 30),
    Stretch("sciatic-nerve-slider", "Sciatic nerve glide (slider)", "seated", "each", (
        "Sit tall with your hands behind your back.",
        "Straighten one knee and pull the toes up while you look up.",
        "Bend the knee and point the toes while you look down.",
        "Move smoothly 10 times without holding; it should never hurt or tingle.",
    ), 45),
    Stretch("standing-glute-shift", "Standing weight shifts", "standing", "both", (
        "Stand with feet wider than your hips.",
        "Shift your weight slowly from one leg to the other, knees soft.",
        "Keep going for the whole time, breathing evenly.",
    ), 30),
)}

BREAK_STRETCHES = ("standing-hip-hinge", "standing-glute-shift")
"""Stretches offered with a break prompt: done standing, so they go with getting up."""
AFTER_BREAK_STRETCHES = ("seated-figure-4", "sciatic-nerve-slider", "supine-figure-4")
"""Stretches offered by a stretch prompt after a long bout ends."""


def rotate(ids: tuple[str, ...], n: int) -> Stretch:
    """The n-th stretch of ``ids`` in rotation (so successive prompts vary)."""
    return STRETCHES[ids[n % len(ids)]]
