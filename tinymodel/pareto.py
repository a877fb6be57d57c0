"""The Pareto front of (latency, energy) points: which configurations no other one beats.

Used by ``tinymodel predict --board all`` (predicted points) and by ``validate``'s report (measured
points, the paper's Figure 3).
"""

from __future__ import annotations

from collections.abc import Sequence


def pareto_front(points: Sequence[tuple[float, float]]) -> list[bool]:
    """For each point (lower is better in both coordinates): True when no other point is at
    least as good in both and better in one.  Equal points do not dominate each other."""
    front = []
    for i, (a, b) in enumerate(points):
        dominated = any(c <= a and d <= b and (c < a or d < b)
                        for j, (c, d) in enumerate(points) if j != i)
        front.append(not dominated)
    return front


__all__ = ["pareto_front"]
