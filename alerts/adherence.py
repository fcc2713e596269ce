"""Whether a prompt was acted on: the one rule the prompt policy and the report share (pure).

A prompt is acted on when, within the adherence window after it was sent
(``PolicyConfig.adherence_window_min``), the patient answered 'done', or a second of data shows
what it asked for: 'break', standing up (an upright posture); 'shift', standing up or sitting
without a lean; 'uncross', standing up or sitting with the legs uncrossed. The sensor cannot see
a stretch or a check-in answered: those need 'done'.
"""

from __future__ import annotations

import numpy as np

from sitload.vocab import UPRIGHT, AckAction, Posture, PromptKind, Side

SEEN_BY_SENSOR = frozenset({PromptKind.BREAK, PromptKind.SHIFT, PromptKind.UNCROSS})
_UPRIGHT_CODES = np.array(sorted(UPRIGHT))


def in_window(created: float, t: np.ndarray | float, window_s: float) -> np.ndarray | bool:
    """Times (a second's start, or an answer's time) inside the adherence window of a prompt."""
    return (created <= t) & (t < created + window_s)


def shows_change(kind: PromptKind, posture: np.ndarray, lean_side: np.ndarray,
                 crossed: np.ndarray | None) -> np.ndarray:
    """Per second (Posture and Side codes): whether it shows what a prompt of ``kind`` asked for
    (``crossed`` None: the sensor cannot see crossed legs)."""
    upright = np.isin(posture, _UPRIGHT_CODES)
    sitting = np.asarray(posture) == Posture.SITTING
    if kind == PromptKind.BREAK:
        return upright
    if kind == PromptKind.SHIFT:
        return upright | (sitting & (np.asarray(lean_side) == Side.NONE))
    if kind == PromptKind.UNCROSS and crossed is not None:
        return upright | (sitting & (np.asarray(crossed) == Side.NONE))
    return np.zeros(np.shape(posture), dtype=bool)


def answered_done(created: float, answers: list[tuple[float, str]], window_s: float) -> bool:
    """Whether one of the (time, action) answers is 'done' inside the prompt's window."""
    return any(action == AckAction.DONE and in_window(created, at, window_s)
               for at, action in answers)


def state_shows_change(kind: str, posture: Posture, lean_side: Side, crossed: Side | None) -> bool:
    """Whether one moment's state shows what a prompt of ``kind`` asked for (``shows_change``)."""
    return bool(shows_change(PromptKind(kind), np.array([posture]), np.array([lean_side]),
                             None if crossed is None else np.array([crossed]))[0])
