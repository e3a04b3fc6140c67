"""Run by the CNTK runtime's own Python 3.6: import cntk and train a tiny net on random data.

Prints one JSON line: {"cntk": version, "devices": ["CPU"], "losses": [...]}. Kept to Python 3.6
syntax; not imported by batchai_kit itself.
"""

import json
import sys
import warnings

warnings.simplefilter("ignore")

import cntk as C  # noqa: E402
import numpy as np  # noqa: E402


def main(steps=30):
    np.random.seed(0)
    C.cntk_py.set_fixed_random_seed(1)
    features = np.random.randn(128, 4).astype(np.float32)
    classes = (features[:, 0] + features[:, 1] > 0).astype(int)
    labels = np.eye(2, dtype=np.float32)[classes]

    x = C.input_variable(4)
    y = C.input_variable(2)
    model = C.layers.Sequential([C.layers.Dense(8, activation=C.relu), C.layers.Dense(2)])(x)
    loss = C.cross_entropy_with_softmax(model, y)
    learner = C.sgd(model.parameters, C.learning_parameter_schedule(0.5))
    trainer = C.Trainer(model, (loss, None), [learner])
    losses = []
    for _ in range(steps):
        trainer.train_minibatch({x: features, y: labels})
        losses.append(float(trainer.previous_minibatch_loss_average))
    devices = [str(device) for device in C.device.all_devices()]
    json.dump({"cntk": C.__version__, "devices": devices, "losses": losses}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
