"""Train a convolutional network on MNIST digits with CNTK 2.x (Python 3.6, cntk 2.7).

Usage, as the Batch AI quickstart passes the arguments::

    python ConvNet_MNIST.py INPUT_DIR OUTPUT_DIR [--epochs N] [--minibatch-size N] [--seed N] ...

INPUT_DIR holds Train-28x28_cntk_text.txt and Test-28x28_cntk_text.txt in the CNTK text
format (make them with prepare_data.py); the trained model is written to
OUTPUT_DIR/ConvNet_MNIST.dnn (the network's output is the 10 class scores before softmax; its
input is one 1x28x28 image of raw pixel values 0..255).

Standard output, one line per event, flushed as printed::

    CNTK 2.7 on CPU
    Data: 8000 training samples, 2000 test samples
    Settings: epochs 15, minibatch 64, learning rate 0.004 per sample (x0.9 per epoch), momentum 0.9, seed 1
    Parameters: 98922
    Held-out error after each epoch: 1000 of the 2000 test samples
    Epoch 1/15: loss 0.4397, error 13.56%, held-out error 3.70%, 1125 samples/s
    ...
    Epoch 15/15: loss 0.0108, error 0.31%, held-out error 1.90%, 937 samples/s
    Final test error: 1.65% (2000 samples)
    Model saved: OUTPUT_DIR/ConvNet_MNIST.dnn
    Elapsed: 128.2 s

Epoch lines: training loss and error averaged over the epoch's minibatches (dropout on), then
the error on held-out (test) digits after that epoch (dropout off), so over- and under-fitting
show. To cost only a few percent of the training time, the per-epoch figure uses a fixed subset
of the test file (its first ``--epoch-eval-samples``, default 1000; 0 for all of it, which
costs about 10 % with the default data); the final test error always uses all of it.
``--no-epoch-eval`` leaves the held-out column out.

Data-parallel training: run under MPI (``mpirun -np N``, or a Batch AI CNTK job with
``processCount`` > 1 / ``nodeCount`` > 1, which the service launches through mpirun) and the
script trains with ``data_parallel_distributed_learner``: every rank reads its own share of each
minibatch (the global minibatch keeps its size, so the figures match one process), gradients
are summed across ranks every step, the epoch figures are summed across ranks, and rank 0 alone
prints the epoch lines and writes the model. Each rank prints one line of its own::

    Rank 1/2: 4000 samples per epoch, 540 samples/s

Reproducible: the same seed and settings on the same machine give the same figures (fixed
seeds for weights, dropout and data order; CNTK's deterministic algorithms; a fixed number of
CPU threads when ``--threads`` is given).

Exit status: 0 on success, 2 (and a message on stderr) when the arguments are wrong, the input
files are missing or empty, or the output directory cannot be created.
"""

import argparse
import os
import sys
import time

TRAIN_FILE = "Train-28x28_cntk_text.txt"
TEST_FILE = "Test-28x28_cntk_text.txt"
MODEL_FILE = "ConvNet_MNIST.dnn"

IMAGE_SHAPE = (1, 28, 28)  # channels, rows, columns
NUM_CLASSES = 10
TEST_MINIBATCH_SIZE = 1000


def log(message):
    # Batch AI users read stdout.txt while the job runs: every line goes out at once.
    print(message, flush=True)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="ConvNet_MNIST.py",
        description="Train a ConvNet on MNIST in CNTK text format, report the test error, save the model.")
    parser.add_argument("input_dir", help="directory holding {} and {}".format(TRAIN_FILE, TEST_FILE))
    parser.add_argument("output_dir", help="directory to write {} into (created if missing)".format(MODEL_FILE))
    parser.add_argument("--epochs", type=int, default=15,
                        help="passes over the training data (default: %(default)s)")
    parser.add_argument("--minibatch-size", type=int, default=64, help="samples per update (default: %(default)s)")
    parser.add_argument("--learning-rate", type=float, default=0.004,
                        help="learning rate per sample for the first epoch (default: %(default)s)")
    parser.add_argument("--lr-decay", type=float, default=0.9,
                        help="factor applied to the learning rate after each epoch (default: %(default)s)")
    parser.add_argument("--momentum", type=float, default=0.9,
                        help="momentum per minibatch, unit-gain (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1,
                        help="random seed for weights, dropout and data order (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads for CNTK; 0 lets CNTK choose (default: %(default)s)")
    parser.add_argument("--model-name", default=MODEL_FILE, help="model file name (default: %(default)s)")
    parser.add_argument("--no-epoch-eval", dest="epoch_eval", action="store_false",
                        help="skip the held-out evaluation after each epoch (the final one still runs)")
    parser.add_argument("--epoch-eval-samples", type=int, default=1000,
                        help="test samples for the per-epoch held-out error, the file's first ones; "
                             "0 for all (default: %(default)s)")
    args = parser.parse_args(argv)
    for name in ("epochs", "minibatch_size"):
        if getattr(args, name) < 1:
            parser.error("--{} must be at least 1, got {}".format(name.replace("_", "-"), getattr(args, name)))
    if args.learning_rate <= 0 or not 0 < args.lr_decay <= 1 or not 0 <= args.momentum < 1:
        parser.error("need --learning-rate > 0, 0 < --lr-decay <= 1 and 0 <= --momentum < 1")
    if args.epoch_eval_samples < 0:
        parser.error("--epoch-eval-samples must be 0 (all) or more, got {}".format(args.epoch_eval_samples))
    if args.threads < 0:
        parser.error("--threads must be 0 (automatic) or more, got {}".format(args.threads))
    return args


class InputError(Exception):
    """The input directory does not hold the data this script needs."""


def prepare_output(output_dir):
    """Create the output directory now, so a bad path fails before training rather than after."""
    try:
        os.makedirs(output_dir, exist_ok=True)
    except OSError as error:
        raise InputError("cannot create the output directory {}: {}".format(output_dir, error.strerror)) from error
    if not os.access(output_dir, os.W_OK):
        raise InputError("the output directory {} is not writable".format(output_dir))


def find_inputs(input_dir):
    """Return the paths of the training and test files, or raise InputError saying what is missing."""
    how = ("the input directory must hold {} and {} in CNTK text format; create them with "
           "'python prepare_data.py {}'".format(TRAIN_FILE, TEST_FILE, input_dir))
    if not os.path.isdir(input_dir):
        raise InputError("input directory {} does not exist or is not a directory; {}".format(input_dir, how))
    paths = [os.path.join(input_dir, name) for name in (TRAIN_FILE, TEST_FILE)]
    missing = [os.path.basename(path) for path in paths if not os.path.isfile(path)]
    if missing:
        raise InputError("{} not found in {}; {}".format(" and ".join(missing), input_dir, how))
    empty = [os.path.basename(path) for path in paths if os.path.getsize(path) == 0]
    if empty:
        raise InputError("{} in {} is empty; {}".format(" and ".join(empty), input_dir, how))
    return paths


def count_samples(path):
    """Samples in a CNTK text file written by prepare_data.py: one line per sample."""
    with open(path, "rb") as lines:
        return sum(1 for line in lines if line.strip())


class Ranks:
    """The processes training together: MPI ranks under mpirun, else this process alone."""

    def __init__(self, cntk):
        self.count = _mpi_world_size()
        self.index = 0
        self._communicator = None
        if self.count > 1:
            from cntk.train import distributed

            self._distributed = distributed
            self._communicator = distributed.mpi_communicator()
            self.index = distributed.Communicator.rank()
            self.count = distributed.Communicator.num_workers()
        self._cntk = cntk

    @property
    def main(self):
        return self.index == 0

    def learner(self, local_learner):
        if self.count == 1:
            return local_learner
        return self._distributed.data_parallel_distributed_learner(
            learner=local_learner, num_quantization_bits=32, distributed_after=0)

    def partition(self):
        """next_minibatch's keywords: this rank's share of every minibatch."""
        if self.count == 1:
            return {}
        return {"num_data_partitions": self.count, "partition_index": self.index}

    def sum(self, *values):
        """Each value summed over all ranks (every rank gets the sums)."""
        if self.count == 1:
            return values
        import numpy

        view = self._cntk.NDArrayView.from_dense(numpy.array(values, dtype=numpy.float64))
        self._communicator.aggregate_in_place([view], self._communicator.workers())
        return tuple(float(value) for value in view.asarray())

    def finish(self):
        if self.count > 1:
            self._distributed.Communicator.finalize()


def _mpi_world_size():
    for name in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE"):
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 1


def create_reader(cntk, path, is_training, seed=0):
    io = cntk.io
    streams = io.StreamDefs(
        features=io.StreamDef(field="features", shape=IMAGE_SHAPE[1] * IMAGE_SHAPE[2]),
        labels=io.StreamDef(field="labels", shape=NUM_CLASSES))
    options = dict(randomize=is_training, max_sweeps=io.INFINITELY_REPEAT if is_training else 1)
    try:
        return io.MinibatchSource(io.CTFDeserializer(path, streams), randomization_seed=seed, **options)
    except TypeError:  # CNTK before 2.2 (the quickstart's 2.1 image) has no randomization_seed
        return io.MinibatchSource(io.CTFDeserializer(path, streams), **options)


def learning_rate_schedule(cntk, rates_per_sample, epoch_size):
    learners = cntk.learners
    if hasattr(learners, "learning_parameter_schedule_per_sample"):  # CNTK 2.2 and later
        return learners.learning_parameter_schedule_per_sample(rates_per_sample, epoch_size=epoch_size)
    return learners.learning_rate_schedule(rates_per_sample, learners.UnitType.sample, epoch_size)


def create_model(cntk, features):
    """Three convolutions (batch-normalised, ReLU) with max pooling, a dense layer with dropout, 10 scores."""
    layers = cntk.layers

    def convolution(filter_shape, filters, pad=False):
        # No bias: batch normalisation's own offset takes its place.
        return layers.Sequential([
            layers.Convolution2D(filter_shape, filters, pad=pad, bias=False, activation=None),
            layers.BatchNormalization(map_rank=1, normalization_time_constant=1024),  # per channel
            layers.Activation(cntk.relu),
        ])

    scaled = cntk.element_times(cntk.constant(1.0 / 256), features)  # pixels 0..255 -> [0, 1)
    network = layers.Sequential([
        convolution((5, 5), 32, pad=True),
        layers.MaxPooling((3, 3), strides=(2, 2)),
        convolution((3, 3), 48),
        layers.MaxPooling((3, 3), strides=(2, 2)),
        convolution((3, 3), 64),
        layers.Dense(96, activation=cntk.relu),
        layers.Dropout(0.5),
        layers.Dense(NUM_CLASSES, activation=None),
    ])
    return network(scaled)


def train(cntk, args, ranks, train_path, held_out, train_samples):
    features = cntk.input_variable(IMAGE_SHAPE, name="features")
    labels = cntk.input_variable(NUM_CLASSES, name="labels")
    model = create_model(cntk, features)
    loss = cntk.cross_entropy_with_softmax(model, labels)
    error = cntk.classification_error(model, labels)

    learning_rates = [args.learning_rate * args.lr_decay ** epoch for epoch in range(args.epochs)]
    learner = ranks.learner(cntk.learners.momentum_sgd(
        model.parameters,
        learning_rate_schedule(cntk, learning_rates, train_samples),
        cntk.learners.momentum_schedule(args.momentum),
        unit_gain=True))
    trainer = cntk.Trainer(model, (loss, error), [learner])
    if ranks.main:
        log("Parameters: {}".format(sum(parameter.value.size for parameter in model.parameters)))

    per_epoch = held_out.first(args.epoch_eval_samples) if args.epoch_eval and ranks.main else None
    if per_epoch is not None:
        log("Held-out error after each epoch: {} of the {} test samples".format(per_epoch.count, held_out.count))
    reader = create_reader(cntk, train_path, is_training=True, seed=args.seed)
    input_map = {features: reader.streams.features, labels: reader.streams.labels}
    trained = training_seconds = 0.0  # this rank's own, for its samples/s
    for epoch in range(1, args.epochs + 1):
        started = time.time()
        local = loss_sum = error_sum = 0.0
        # The global minibatch is split between the ranks: every rank takes the same steps.
        for first in range(0, train_samples, args.minibatch_size):
            size = min(args.minibatch_size, train_samples - first)
            batch = reader.next_minibatch(size, input_map=input_map, **ranks.partition())
            trainer.train_minibatch(batch)
            count = trainer.previous_minibatch_sample_count
            local += count
            loss_sum += trainer.previous_minibatch_loss_average * count
            error_sum += trainer.previous_minibatch_evaluation_average * count
        elapsed = max(time.time() - started, 1e-9)
        trained, training_seconds = trained + local, training_seconds + elapsed
        seen, loss_sum, error_sum = ranks.sum(local, loss_sum, error_sum)
        line = "Epoch {}/{}: loss {:.4f}, error {:.2f}%".format(
            epoch, args.epochs, loss_sum / seen, 100.0 * error_sum / seen)
        if ranks.main:
            # Rank 0 evaluates alone: CNTK keeps batch normalisation's running statistics on
            # the main worker only.
            if per_epoch is not None:
                line += ", held-out error {:.2f}%".format(100.0 * per_epoch.error(trainer, features, labels))
            log("{}, {:.0f} samples/s".format(line, seen / elapsed))
    if ranks.count > 1:
        log("Rank {}/{}: {:.0f} samples per epoch, {:.0f} samples/s".format(
            ranks.index, ranks.count, trained / args.epochs, trained / training_seconds))
    test_error = (held_out.error(trainer, features, labels), held_out.count) if ranks.main else None
    return model, test_error


class HeldOut:
    """Test samples read once into memory (the CNTK text is parsed once, not every epoch)."""

    def __init__(self, features, labels):
        self.features = features  # (count, 1, 28, 28) float32
        self.labels = labels  # (count, 10) float32, one-hot

    @classmethod
    def read(cls, cntk, path):
        import numpy

        reader = create_reader(cntk, path, is_training=False)
        features, labels = [], []
        while True:
            batch = reader.next_minibatch(TEST_MINIBATCH_SIZE)
            if not batch:
                break
            features.append(batch[reader.streams.features].asarray().reshape((-1, *IMAGE_SHAPE)))
            labels.append(batch[reader.streams.labels].asarray().reshape(-1, NUM_CLASSES))
        return cls(numpy.concatenate(features).astype(numpy.float32), numpy.concatenate(labels).astype(numpy.float32))

    @property
    def count(self):
        return len(self.labels)

    def first(self, count):
        """The first ``count`` samples (all of them for 0 or more than there are)."""
        if not count or count >= self.count:
            return self
        return HeldOut(self.features[:count], self.labels[:count])

    def error(self, trainer, features, labels):
        """Classification error of the trainer's model over these samples (a fraction)."""
        errors = 0.0
        for first in range(0, self.count, TEST_MINIBATCH_SIZE):
            batch = {features: self.features[first:first + TEST_MINIBATCH_SIZE],
                     labels: self.labels[first:first + TEST_MINIBATCH_SIZE]}
            errors += trainer.test_minibatch(batch) * len(batch[labels])
        return errors / max(self.count, 1)


def save_model(model, output_dir, name):
    path = os.path.join(output_dir, name)
    partial = path + ".partial"  # renamed when complete: a reader never sees half a model
    model.save(partial)
    os.replace(partial, path)
    return path


def main(argv=None):
    args = parse_args(argv)
    try:
        train_path, test_path = find_inputs(args.input_dir)
        train_samples, test_samples = count_samples(train_path), count_samples(test_path)
        if not train_samples or not test_samples:
            raise InputError("{} holds no samples".format(train_path if not train_samples else test_path))
        prepare_output(args.output_dir)
    except InputError as problem:
        print("ConvNet_MNIST.py: error: {}".format(problem), file=sys.stderr, flush=True)
        return 2

    import cntk  # after the checks: a wrong path fails fast and clearly, even without CNTK

    cntk.cntk_py.set_fixed_random_seed(args.seed)
    cntk.cntk_py.force_deterministic_algorithms()
    if args.threads:
        cntk.cntk_py.set_max_num_cputhreads(args.threads)
    ranks = Ranks(cntk)
    if ranks.main:
        log("CNTK {} on {}{}".format(cntk.__version__, cntk.device.use_default_device(),
                                     ", {} ranks (data parallel)".format(ranks.count) if ranks.count > 1 else ""))
        log("Data: {} training samples, {} test samples".format(train_samples, test_samples))
        log("Settings: epochs {}, minibatch {}, learning rate {} per sample (x{} per epoch), momentum {}, seed {}"
            .format(args.epochs, args.minibatch_size, args.learning_rate, args.lr_decay, args.momentum, args.seed))

    started = time.time()
    held_out = HeldOut.read(cntk, test_path) if ranks.main else None
    model, test_result = train(cntk, args, ranks, train_path, held_out, train_samples)
    if ranks.main:
        test_error, tested = test_result
        log("Final test error: {:.2f}% ({} samples)".format(100.0 * test_error, tested))
        log("Model saved: {}".format(save_model(model, args.output_dir, args.model_name)))
        log("Elapsed: {:.1f} s".format(time.time() - started))
    ranks.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
