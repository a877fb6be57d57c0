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
    ``table2``, ``table3``, ``table4``, ``table4_data``, ``sweeps``, ``energy``, ``findings``,
    ``accuracy``).

    Each network row also carries its record's ``target`` (``virtual`` or ``device``), ``port``,
    ``error`` (the one-line reason of an ``error`` or ``unsupported`` run) and ``verification``
    status; ``table4_data`` says, per Table 4 entry, whether it comes from the calibration logs
    (``"calibration logs"``) or from this run's layers (``"this run"``), and every finding has
    ``data`` saying the same.

    ``calibration``: calibration records per board (:func:`calibration_logs`) for Table 4 and
    the sweeps; ``accuracy``: Table 1 rows (:func:`calibration.accuracy.table1`), if any.
    """
    recs = [r for r in records if r.get("status") in ("ok", "oversized", "unsupported", "error")]
    if not recs:
        raise AnalysisError("no validation records to analyse")
    tables = tables or TableChoice()
    layers, nets = join(recs, tables)
    for net, rec in zip(nets, recs, strict=True):     # join keeps one row per record, in order
        net.update(target=rec.get("target"), port=rec.get("port"), error=rec.get("error"),
                   verification=(rec.get("verification") or {}).get("status"))
    errors = error_summary(layers, nets)
    mis = mispredictions(layers)
    t2, t3 = table2(nets), table3(nets)
    energy = energy_points(nets, layers)
    calib = calibration or {}
    # Table 4 from the logs and from this run's layers separately, so each entry's data is known
    t4_logs, t4_run = table4(calib, [], []), table4({}, layers, recs)
    t4 = {**t4_logs, **t4_run}
    t4_data = {name: "calibration logs" if name in t4_logs else "this run" for name in t4}
    findings = [f | {"data": "this run"} for f in paper_findings(nets, t2, t3, energy)]
    for name, t in t4.items():
        findings += [finding(f"{name}: {f['claim']}", f["holds"], f["detail"], "Table 4")
                     | {"data": t4_data[name]} for f in t["findings"]]
    findings += [f | {"data": "this run"} for f in proxy_findings(errors, mis)]
    return {
        "tables": tables.used(),
        "missing_tables": {f"{b}/{v}": why for (b, v), why in sorted(tables.missing.items())},
        "layers": layers, "networks": nets, "errors": errors,
        "correlations": correlations(layers, nets), "mispredictions": mis,
        "no_mac_layers": no_mac_summary(layers),
        "worst_layers": {"mac": worst_layers([r for r in layers if r["macs"]], "mac"),
                         "rich": worst_layers(layers, "rich")},
        "table2": t2, "table3": t3, "table4": t4, "table4_data": t4_data,
        "sweeps": sweeps(calib), "energy": energy,
        "findings": findings, "accuracy": list(accuracy) if accuracy else None,
    }


__all__ = ["analyze"]
