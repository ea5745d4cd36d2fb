"""Benchmark: a training epoch with example-tied dropout on vs off (target: at most 1.15x).

Same model, data and seed; the "on" trainer masks the default ETD layers (two middle
groups) with per-example channel masks computed on the device. Prints the median of 5
repeats (after a warm-up epoch), wall and CPU time, and the ratio. Not a unit test.

    .venv/bin/python bench/bench_etd.py                 # digits/cnn and mnist-5000/resnet9 x0.25
    .venv/bin/python bench/bench_etd.py --case digits --threads 1
    .venv/bin/python bench/bench_etd.py --device cuda
"""

from __future__ import annotations

import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_gradient_accounting import bench_args, bench_cases, make_trainer, report, setup_case, time_epochs  # noqa: E402

from memscope.train.runner import model_factory  # noqa: E402


def main() -> None:
    from memscope.models.example_tied_dropout import ExampleTiedDropout, default_etd_groups

    args = bench_args(__doc__.splitlines()[0])
    for case in bench_cases(args):
        config, host, data = setup_case(case, device=args.device)
        off = make_trainer(config, host, data)
        model = model_factory(config, host, data)()  # same seed: the same initial weights as "off"
        groups = default_etd_groups(list(model.layer_groups()))
        etd = ExampleTiedDropout(model, groups, config.seed, config.etd.p_gen, config.etd.p_mem, config.etd.dropped_scale)
        on = make_trainer(config, host, data, etd=etd, model=model)
        times = time_epochs({"off": (*off, []), "on": (*on, [])}, args.repeats)
        label = (
            f"{case:6s} N={data.num_train} {config.model.name} x{config.model.width} batch {config.train.batch_size} "
            f"etd on {','.join(g.name for g in groups)}"
        )
        report(label, times, 1.15, args.repeats)


if __name__ == "__main__":
    main()
