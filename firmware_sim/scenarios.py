"""Named wear-day scenarios: the parameters that shape a simulated person's day.

A scenario says how long the sensor is worn, how sitting bouts and breaks are distributed and how
often the in-seat behaviours the analytics score (leaning, crossed legs, weight shifts, fidgets,
brief stand-ups) happen. ``body_model.plan_day`` turns one scenario into per-second body states.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Scenario:
    """Parameters of one simulated wear day (minutes unless the name says otherwise).

    Sitting bout lengths follow a Pareto law truncated to ``bout_min`` with shape ``bout_shape``
    (smaller = heavier tail, i.e. more long bouts among many short ones); ``bout_shape == 0`` draws
    them uniformly. Rates are per hour of sitting. Lean angles are degrees, + = leaning to the left.
    """

    name: str
    description: str
    wear_hours: float = 8.0
    bout_min: tuple[float, float] = (2.0, 90.0)
    bout_shape: float = 0.9
    break_min: tuple[float, float] = (1.0, 10.0)
    walk_share: float = 0.5
    lunch_min: tuple[float, float] = (25.0, 40.0)
    lying_rest_chance: float = 0.2
    lean_per_h: float = 1.5
    lean_deg: tuple[float, float] = (5.0, 20.0)
    lean_len_min: tuple[float, float] = (2.0, 15.0)
    lean_left_share: float = 0.5
    sustained_lean_deg: float = 0.0
    cross_per_h: float = 1.5
    cross_len_min: tuple[float, float] = (2.0, 20.0)
    cross_left_share: float = 0.5
    shift_per_h: float = 3.0
    fidget_per_h: float = 8.0
    standup_per_h: float = 0.6
    object_chance: float = 0.25


FLARE_FORTNIGHT = Scenario(
    name="flare-fortnight",
    description="desk days (5-100 min bouts, heavy-tailed) of a person whose pain diary "
                "follows a hidden dose-response (firmware_sim/symptoms.py): flares after "
                "about 40 min of unbroken sitting, more likely with the left buttock "
                "loaded; meant for --days 14",
    bout_min=(5.0, 100.0),
    bout_shape=0.5,
    lean_per_h=2.0,
    lean_len_min=(3.0, 20.0),
    lean_left_share=0.6,
)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            name="desk-day",
            description="8 h office day: many short and a few long sitting bouts (2-90 min, "
                        "heavy-tailed), 1-10 min standing/walking breaks, a lunch break, "
                        "leaning and leg crossing to both sides",
        ),
        Scenario(
            name="flare-day",
            description="8 h day during a flare: long bouts (45-120 min) with a sustained left "
                        "lean and mostly left-over-right leg crossing, few breaks",
            bout_min=(45.0, 120.0),
            bout_shape=0.0,
            break_min=(1.0, 6.0),
            walk_share=0.4,
            lying_rest_chance=0.6,
            lean_per_h=1.0,
            lean_left_share=0.8,
            sustained_lean_deg=9.0,
            cross_per_h=2.0,
            cross_len_min=(5.0, 25.0),
            cross_left_share=0.8,
            shift_per_h=1.5,
            standup_per_h=0.3,
        ),
        Scenario(
            name="active-day",
            description="8 h active day: short sitting bouts (2-25 min) and long walking breaks",
            bout_min=(2.0, 25.0),
            bout_shape=1.2,
            break_min=(3.0, 20.0),
            walk_share=0.75,
            lying_rest_chance=0.0,
            lean_per_h=2.0,
            lean_len_min=(1.0, 6.0),
            cross_per_h=2.0,
            cross_len_min=(1.0, 8.0),
            standup_per_h=1.0,
            object_chance=0.1,
        ),
        FLARE_FORTNIGHT,
        replace(FLARE_FORTNIGHT, name="no-dose-response",
                description="the desk days of flare-fortnight with a pain diary unrelated to "
                            "sitting (flares at random); meant for --days 14"),
    )
}
