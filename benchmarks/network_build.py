"""What building a calibration network's image costs (not a test): each network built alone in a
fresh build directory (as before) against the same networks built one after another in one
reused build directory (``calibration.firmware.build_network_image``, what calibration does).

    .venv/bin/python benchmarks/network_build.py [--board L4] [--variant s8-opt] [--networks 4]

The networks are the first ``--networks`` calibration networks of the ``full`` plan for the
board and variant (their generated sources, as calibration writes them), built with ``make -j1``
as a calibration worker does.  Prints wall seconds per network for both ways (the reused
directory's first build compiles everything, so it is reported apart) and checks that both give
the same binary and build id.  Results are quoted in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--board", default="L4")
    p.add_argument("--variant", default="s8-opt")
    p.add_argument("--networks", type=int, default=4)
    args = p.parse_args(argv)

    from calibration.codegen import write_model
    from calibration.context import describe_network, plan_networks
    from calibration.firmware import build_image, build_network_image
    from calibration.plans import load_plan

    points = load_plan("full").points_for(args.variant)
    nets = plan_networks(points, plan="full", board=args.board,
                         variant=args.variant).networks[:args.networks]
    work = Path(tempfile.mkdtemp(prefix="network_build_"))
    alone, reused = [], []
    for i, net in enumerate(nets):
        model = work / net.id / "model"
        write_model(describe_network(net, args.variant), model)
        t0 = time.perf_counter()
        a = build_image(args.board, args.variant, "-O2", model_dir=model,
                        build_dir=work / net.id / "alone", jobs=1)
        t1 = time.perf_counter()
        r = build_network_image(args.board, args.variant, "-O2", model, work / net.id / "reused",
                                slots_dir=work / ".build")
        t2 = time.perf_counter()
        assert filecmp.cmp(a.bin, r.bin, shallow=False) and a.build_id == r.build_id, net.id
        alone.append(t1 - t0)
        reused.append(t2 - t1)
        print(f"{net.id}: alone {t1 - t0:.2f} s, reused directory {t2 - t1:.2f} s"
              f"{' (its first build)' if i == 0 else ''}; same binary and build id")
    print(f"machine: load average {os.getloadavg()[0]:.1f}")
    print(f"per network: alone {sum(alone) / len(alone):.2f} s; reused directory "
          f"{reused[0]:.2f} s for the first, "
          f"{sum(reused[1:]) / max(len(reused) - 1, 1):.2f} s for each later one")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
