"""Energy of a marker window, as an external monitor (e.g. RocketLogger, paper §3.3) would
measure it on the MCU supply: ``E = V * I(f) * t``.

``V`` is the board's supply voltage and ``I(f_board)`` its datasheet run current at the
configured clock (``tinymodel/boards/data/*.toml`` [power], with its source; the values are
marked unconfirmed there).  At another clock the current is scaled linearly with frequency
(datasheets quote run current in uA/MHz; the static part is ignored) - an approximation, used
only when the firmware runs a window at a clock other than the board's.  The paper finds energy
linear in latency per MCU (§4.2, r = 0.9946), which is what this model assumes; no
per-instruction-class weighting is applied.
"""

from __future__ import annotations


class PowerModel:
    """Constant-power model of one board."""

    def __init__(self, board) -> None:
        self.board = board
        self.supply_v = board.power.supply_v
        self.run_current_ma = board.power.run_current_ma
        self.nominal_hz = board.clock_hz

    def power_mw(self, clock_hz: int | None = None) -> float:
        """``V * I_run * f / f_board`` in mW."""
        f = clock_hz or self.nominal_hz
        return self.supply_v * self.run_current_ma * f / self.nominal_hz

    def energy_uj(self, cycles: int, clock_hz: int | None = None) -> float:
        """Energy of ``cycles`` cycles at ``clock_hz``: P[mW] * t[ms] = uJ."""
        f = clock_hz or self.nominal_hz
        return self.power_mw(f) * cycles / f * 1e3

    def describe(self) -> dict:
        p = self.board.power
        return {"supply_v": p.supply_v, "run_current_ma": p.run_current_ma,
                "clock_hz": self.nominal_hz, "run_power_mw": self.power_mw(),
                "datasheet": p.datasheet, "table": p.table, "confirmed": p.confirmed,
                "note": p.note}
