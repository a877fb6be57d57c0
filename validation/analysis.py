"""Measured networks against predictions, and where the proxies break (paper §4): the whole
analysis behind ``validate``'s report, put together from the modules that each do one job.

:func:`analyze` takes the records of ``validate`` runs (``OUT/results.jsonl``, schema in
docs/validation.md) and returns one JSON-ready dict with every number the report shows:

* **Per layer and per network, the predictors side by side** (:mod:`validation.predictions`):
  the estimator's choice and its ``rich``, ``paper`` and ``mac`` predictors
  (:meth:`tinymodel.estimator.Estimator.predict`), with the estimator's 95 % interval of each
  network total;
* **errors, correlations, where MACs mispredict** (:mod:`validation.statistics`);
* **the paper's tables, figures and findings** (:mod:`validation.paper_tables`);
* the paper's Table 1 when given (:mod:`validation.accuracy` computes it, on a board).

Nothing here runs a board; it needs numpy, scipy and the table files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from validation.paper_tables import (
    energy_points,
    paper_findings,
    sweeps,
    table2,
    table3,
    table4,
)
from validation.predictions import AnalysisError, TableChoice, join
from validation.statistics import (
    correlations,
    error_summary,
    finding,
    mispredictions,
    no_mac_summary,
    proxy_findings,
    worst_layers,
)


def analyze(records: Iterable[Mapping[str, Any]], tables: TableChoice | None = None,
            calibration: Mapping[str, list] | None = None,
            accuracy: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Everything the report shows, as one JSON-ready dict (keys: ``tables``, ``layers``,
    ``networks``, ``errors``, ``correlations``, ``mispredictions``, ``worst_layers``,
    ``table2``, ``table3``, ``table4``, ``sweeps``, ``energy``, ``findings``, ``accuracy``).

    ``calibration``: calibration records per board (:func:`calibration_logs`) for Table 4 and
    the sweeps; ``accuracy``: Table 1 rows (:func:`calibration.accuracy.table1`), if any.
    """
    recs = [r for r in records if r.get("status") in ("ok", "oversized", "unsupported", "error")]
    if not recs:
        raise AnalysisError("no validation records to analyse")
    tables = tables or TableChoice()
    layers, nets = join(recs, tables)
    errors = error_summary(layers, nets)
    mis = mispredictions(layers)
    t2, t3 = table2(nets), table3(nets)
    energy = energy_points(nets, layers)
    calib = calibration or {}
    t4 = table4(calib, layers, recs)
    findings = paper_findings(nets, t2, t3, energy)
    for name, t in t4.items():
        findings += [finding(f"{name}: {f['claim']}", f["holds"], f["detail"], "Table 4")
                     for f in t["findings"]]
    findings += proxy_findings(errors, mis)
    return {
        "tables": tables.used(),
        "missing_tables": {f"{b}/{v}": why for (b, v), why in sorted(tables.missing.items())},
        "layers": layers, "networks": nets, "errors": errors,
        "correlations": correlations(layers, nets), "mispredictions": mis,
        "no_mac_layers": no_mac_summary(layers),
        "worst_layers": {"mac": worst_layers([r for r in layers if r["macs"]], "mac"),
                         "rich": worst_layers(layers, "rich")},
        "table2": t2, "table3": t3, "table4": t4, "sweeps": sweeps(calib), "energy": energy,
        "findings": findings, "accuracy": list(accuracy) if accuracy else None,
    }


__all__ = ["analyze"]
