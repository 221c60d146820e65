"""AutoGluon-Tabular on one split, as a user would run it: the views concatenated as columns.

Run by `versus_baselines` with the Python of an environment that has the benchmark-only extra
(``pip install -e '.[bench]'``), so AutoGluon never becomes a dependency of automm:

    python benchmarks/_autogluon_peer.py SPLIT.npz PRESET TIME_LIMIT [no-dystack]

SPLIT.npz holds ``x_train``, ``y_train``, ``x_test``, ``y_test`` (views concatenated, standardised on the
training rows only). AutoGluon seeds its models itself (the same for every split). Prints one JSON line: test
accuracy, fit seconds, the models AutoGluon trained. ``no-dystack`` turns off ``best_quality``'s dynamic
stacking check, which needs a quarter of the time limit and fails outright on very short limits.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time

import numpy as np


def main() -> None:
    import pandas as pd
    from autogluon.tabular import TabularPredictor

    path, preset, time_limit = sys.argv[1], sys.argv[2], float(sys.argv[3])
    extra = {"dynamic_stacking": False} if "no-dystack" in sys.argv[4:] else {}
    data = np.load(path)
    columns = [f"f{i}" for i in range(data["x_train"].shape[1])]
    train = pd.DataFrame(data["x_train"], columns=columns).assign(label=data["y_train"])
    test = pd.DataFrame(data["x_test"], columns=columns)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        predictor = TabularPredictor(
            label="label", problem_type="multiclass", eval_metric="accuracy", path=folder, verbosity=0
        ).fit(train, time_limit=time_limit, presets=preset, num_cpus=1, num_gpus=0, **extra)
        seconds = time.perf_counter() - start
        predicted = predictor.predict(test).to_numpy()
        print(
            json.dumps(
                {
                    "test": float((predicted == data["y_test"]).mean()),
                    "seconds": seconds,
                    "best_model": predictor.model_best,
                    "models": len(predictor.model_names()),
                }
            )
        )


if __name__ == "__main__":
    main()
