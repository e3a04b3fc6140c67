"""Convert MNIST IDX files to the CNTK text format that ConvNet_MNIST.py reads.

Each output line is one digit::

    |labels 0 0 0 1 0 0 0 0 0 0 |features 0 0 ... 255 ...

a one-hot label over the 10 classes, then the 784 raw pixel values (0..255, row by row).

Usage::

    python prepare_data.py OUT_DIR
        the 10,000-digit sample shipped in data/ -> 8,000 train + 2,000 test records
    python prepare_data.py OUT_DIR --images train-images-idx3-ubyte.gz --labels train-labels-idx1-ubyte.gz
                                   --test-images t10k-images-idx3-ubyte.gz --test-labels t10k-labels-idx1-ubyte.gz
        any MNIST-style IDX files, e.g. the full official MNIST (60,000 + 10,000)
    python prepare_data.py OUT_DIR --images ... --labels ... --train-count 50000
        split one IDX set: the first 50,000 records to train, the rest to test

``--train-count`` / ``--test-count`` also cut a smaller slice (the first N records).
IDX files may be gzip-compressed or not (detected by the gzip magic bytes).

Standard library only, and runs on Python 3.6 (the CNTK runtime) as well as 3.11, so it can
be imported (``read_idx``, ``read_mnist``, ``write_ctf``, ``read_ctf``, ``convert``,
``prepare_sample``, ``main``) or run on a training node.
"""

import argparse
import gzip
import hashlib
import os
import struct
import sys
import zlib
from pathlib import Path
from typing import Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

PathLike = Union[str, "os.PathLike[str]"]

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / "data"
"""The shipped 10,000-digit sample: four gzip'd IDX files and their SHA256SUMS."""

TRAIN_CTF = "Train-28x28_cntk_text.txt"
TEST_CTF = "Test-28x28_cntk_text.txt"

SAMPLE_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions (count, rows, columns)
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension (count)
IDX_UNSIGNED_BYTE = 0x08
NUM_CLASSES = 10
IMAGE_ROWS = IMAGE_COLUMNS = 28

_GZIP_MAGIC = b"\x1f\x8b"
_IDX_TYPE_NAMES = {0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "short",
                   0x0C: "int", 0x0D: "float", 0x0E: "double"}
# Pixel and label values as text, built once: the conversion is a table lookup per byte.
_DECIMAL = tuple(str(value) for value in range(256))
_ONE_HOT = tuple(
    " ".join("1" if column == label else "0" for column in range(NUM_CLASSES))
    for label in range(NUM_CLASSES)
)


class IdxFormatError(ValueError):
    """An IDX file breaks a rule of the format; ``path`` names the file, ``rule`` says which."""

    def __init__(self, path: PathLike, rule: str) -> None:
        self.path = Path(path)
        self.rule = rule
        super().__init__("{}: {}".format(self.path, rule))


class ChecksumError(ValueError):
    """A shipped data file does not match its line in SHA256SUMS."""


class MnistSet(NamedTuple):
    """Images and labels of one IDX pair: ``count`` records of ``rows`` x ``columns`` pixels."""

    images: bytes
    labels: bytes
    count: int
    rows: int
    columns: int

    @property
    def image_size(self) -> int:
        return self.rows * self.columns


def read_idx(path: PathLike) -> Tuple[Tuple[int, ...], bytes]:
    """Read an unsigned-byte IDX file (gzip'd or not); return (dimensions, data bytes).

    Raises IdxFormatError naming the file and the rule when the magic number, the dimensions
    or the data length are wrong (a truncated file, trailing bytes, a corrupt gzip stream).
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as error:
            raise IdxFormatError(path, "the gzip stream is truncated or corrupt ({})".format(error)) from error
    if len(raw) < 4:
        raise IdxFormatError(path, "too short for an IDX magic number: {} bytes, need 4".format(len(raw)))
    zero, type_code, ndim = struct.unpack(">HBB", raw[:4])
    magic = struct.unpack(">I", raw[:4])[0]
    if zero != 0:
        raise IdxFormatError(
            path, "bad magic number 0x{:08x}: an IDX magic number starts with two zero bytes "
                  "(MNIST: 2051 for images, 2049 for labels)".format(magic))
    if type_code != IDX_UNSIGNED_BYTE:
        raise IdxFormatError(
            path, "data type 0x{:02x} ({}) is not supported: MNIST IDX files hold unsigned bytes (0x08)"
                  .format(type_code, _IDX_TYPE_NAMES.get(type_code, "unknown")))
    if ndim == 0:
        raise IdxFormatError(path, "the magic number declares 0 dimensions; an IDX file has at least 1")
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise IdxFormatError(
            path, "truncated header: {} dimension sizes need {} bytes, the file has {}"
                  .format(ndim, header_size, len(raw)))
    shape = struct.unpack(">{}I".format(ndim), raw[4:header_size])
    if 0 in shape:
        raise IdxFormatError(path, "dimension sizes must be positive, the header says {}".format(shape))
    expected = 1
    for size in shape:
        expected *= size
    actual = len(raw) - header_size
    if actual < expected:
        raise IdxFormatError(
            path, "truncated data: dimensions {} need {} bytes after the header, the file has {}"
                  .format(shape, expected, actual))
    if actual > expected:
        raise IdxFormatError(
            path, "{} trailing bytes: dimensions {} need exactly {} bytes after the header"
                  .format(actual - expected, shape, expected))
    return shape, raw[header_size:]


def read_mnist(images_path: PathLike, labels_path: PathLike) -> MnistSet:
    """Read an MNIST images/labels IDX pair and check that they belong together."""
    images_path, labels_path = Path(images_path), Path(labels_path)
    image_shape, images = read_idx(images_path)
    if len(image_shape) != 3:
        raise IdxFormatError(
            images_path, "expected an IDX images file (magic {}, 3 dimensions: count, rows, columns), "
                         "found magic {} with {} dimension(s)".format(
                             IMAGES_MAGIC, 2048 + len(image_shape), len(image_shape)))
    label_shape, labels = read_idx(labels_path)
    if len(label_shape) != 1:
        raise IdxFormatError(
            labels_path, "expected an IDX labels file (magic {}, 1 dimension: count), "
                         "found magic {} with {} dimensions".format(
                             LABELS_MAGIC, 2048 + len(label_shape), len(label_shape)))
    count, rows, columns = image_shape
    if label_shape[0] != count:
        raise IdxFormatError(
            labels_path, "holds {} labels but {} holds {} images; the counts must match"
                         .format(label_shape[0], images_path.name, count))
    top = max(labels)
    if top >= NUM_CLASSES:
        raise IdxFormatError(
            labels_path, "label {} at record {} is out of range: MNIST labels are 0..{}"
                         .format(top, labels.index(top), NUM_CLASSES - 1))
    return MnistSet(images, labels, count, rows, columns)


def write_ctf(path: PathLike, images: bytes, labels: bytes, image_size: int = IMAGE_ROWS * IMAGE_COLUMNS,
              start: int = 0, count: Optional[int] = None) -> int:
    """Write records ``start .. start+count`` (default: all from start) as CNTK text format.

    ``images`` holds ``image_size`` bytes per record, ``labels`` one byte (0..9) per record.
    The file is written under a temporary name and renamed, so a reader never sees half a file.
    Returns the number of records written.
    """
    available = len(labels) - start
    if len(images) != len(labels) * image_size:
        raise ValueError("images hold {} bytes, {} labels x {} pixels need {}".format(
            len(images), len(labels), image_size, len(labels) * image_size))
    if count is None:
        count = available
    if start < 0 or count < 0 or count > available:
        raise ValueError("records {}..{} asked for, the set has {}".format(start, start + count, len(labels)))
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="ascii", newline="\n") as out:
        for record in range(start, start + count):
            offset = record * image_size
            pixels = " ".join([_DECIMAL[value] for value in images[offset:offset + image_size]])
            out.write("|labels {} |features {}\n".format(_ONE_HOT[labels[record]], pixels))
    os.replace(str(partial), str(path))
    return count


def read_ctf(path: PathLike) -> Iterator[Tuple[int, bytes]]:
    """Yield (label, pixel bytes) for each line of a CNTK text file written by write_ctf."""
    path = Path(path)
    with path.open("r", encoding="ascii") as lines:
        for number, line in enumerate(lines, 1):
            fields = {}
            for chunk in line.split("|")[1:]:
                name, _, values = chunk.partition(" ")
                fields[name] = values.split()
            try:
                one_hot = [int(value) for value in fields["labels"]]
                pixels = bytes(int(value) for value in fields["features"])
                if len(one_hot) != NUM_CLASSES or sorted(one_hot) != [0] * (NUM_CLASSES - 1) + [1]:
                    raise ValueError("labels are not one-hot over {} classes".format(NUM_CLASSES))
            except (KeyError, ValueError) as error:
                raise ValueError("{}:{}: not a CNTK text MNIST record ({})".format(path, number, error)) from error
            yield one_hot.index(1), pixels


def convert(out_dir: PathLike, images: PathLike, labels: PathLike,
            test_images: Optional[PathLike] = None, test_labels: Optional[PathLike] = None,
            train_count: Optional[int] = None, test_count: Optional[int] = None) -> List[Path]:
    """Write Train-28x28_cntk_text.txt and Test-28x28_cntk_text.txt into ``out_dir``.

    With a test IDX pair, the first ``train_count`` / ``test_count`` records of each (default
    all). Without one, the training set is split: its first ``train_count`` records train, the
    following ``test_count`` records (default: all the rest) test.
    Returns the two paths, train first.
    """
    if (test_images is None) != (test_labels is None):
        raise ValueError("give both test images and test labels, or neither (to split the training set)")
    for name, value in (("train_count", train_count), ("test_count", test_count)):
        if value is not None and value < 1:
            raise ValueError("{} must be a positive number of records, got {}".format(name, value))
    train = _checked_28x28(read_mnist(images, labels), images)
    if test_images is None:
        if train_count is None:
            if test_count is None:
                raise ValueError("splitting one IDX set needs train_count or test_count")
            train_count = train.count - test_count
        if test_count is None:
            test_count = train.count - train_count
        if train_count < 1 or test_count < 1 or train_count + test_count > train.count:
            raise ValueError("cannot split {} records into {} train + {} test".format(
                train.count, train_count, test_count))
        test, test_start = train, train_count
    else:
        test, test_start = _checked_28x28(read_mnist(test_images, test_labels), test_images), 0
    for name, value, total in (("train_count", train_count, train.count),
                               ("test_count", test_count, test.count - test_start)):
        if value is not None and value > total:
            raise ValueError("{} is {} but only {} records are available".format(name, value, total))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train_path, test_path = out_dir / TRAIN_CTF, out_dir / TEST_CTF
    write_ctf(train_path, train.images, train.labels, train.image_size, 0, train_count)
    write_ctf(test_path, test.images, test.labels, test.image_size, test_start, test_count)
    return [train_path, test_path]


def _checked_28x28(mnist: MnistSet, images_path: PathLike) -> MnistSet:
    if (mnist.rows, mnist.columns) != (IMAGE_ROWS, IMAGE_COLUMNS):
        raise IdxFormatError(images_path, "images are {}x{}; the recipe's files and network expect {}x{}"
                             .format(mnist.rows, mnist.columns, IMAGE_ROWS, IMAGE_COLUMNS))
    return mnist


def verify_checksums(data_dir: PathLike = DATA_DIR) -> None:
    """Check every file listed in ``data_dir``/SHA256SUMS; raise ChecksumError on the first mismatch."""
    data_dir = Path(data_dir)
    sums = data_dir / "SHA256SUMS"
    for line in sums.read_text(encoding="ascii").splitlines():
        if not line.strip():
            continue
        expected, name = line.split(None, 1)
        path = data_dir / name.lstrip("*")
        if not path.is_file():
            raise ChecksumError("{}: listed in {} but missing".format(path, sums))
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        if actual != expected:
            raise ChecksumError("{}: SHA-256 {} does not match {} in {}; the file is damaged or "
                                "was replaced".format(path, actual, expected, sums))


def prepare_sample(dest_dir: PathLike, train_count: Optional[int] = None,
                   test_count: Optional[int] = None, data_dir: PathLike = DATA_DIR) -> List[Path]:
    """Write the shipped sample as CNTK text files into ``dest_dir``; return [train, test] paths.

    By default all 8,000 training and 2,000 test digits; ``train_count`` / ``test_count`` take
    the first N of each (a quick slice for smoke tests). Checksums are verified first.
    """
    data_dir = Path(data_dir)
    verify_checksums(data_dir)
    return convert(dest_dir, data_dir / SAMPLE_FILES["train_images"], data_dir / SAMPLE_FILES["train_labels"],
                   data_dir / SAMPLE_FILES["test_images"], data_dir / SAMPLE_FILES["test_labels"],
                   train_count=train_count, test_count=test_count)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prepare_data.py",
        description="Convert MNIST IDX files (gzip'd or not) to {} and {}.".format(TRAIN_CTF, TEST_CTF),
        epilog="Without --images/--labels, converts the 10,000-digit sample shipped in {} "
               "(8,000 train, 2,000 test).".format(DATA_DIR))
    parser.add_argument("out_dir", type=Path, help="directory to write the two CNTK text files into")
    parser.add_argument("--images", type=Path, help="training images IDX file (magic 2051)")
    parser.add_argument("--labels", type=Path, help="training labels IDX file (magic 2049)")
    parser.add_argument("--test-images", type=Path, help="test images IDX file; omit to split the training set")
    parser.add_argument("--test-labels", type=Path, help="test labels IDX file")
    parser.add_argument("--train-count", type=int, help="use the first N training records "
                        "(when splitting: the first N train, the rest test)")
    parser.add_argument("--test-count", type=int, help="use N test records")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if (args.images is None) != (args.labels is None):
        parser.error("give both --images and --labels, or neither (for the shipped sample)")
    if args.images is None and (args.test_images or args.test_labels):
        parser.error("--test-images/--test-labels need --images and --labels")
    try:
        if args.images is None:
            paths = prepare_sample(args.out_dir, args.train_count, args.test_count)
        else:
            paths = convert(args.out_dir, args.images, args.labels, args.test_images, args.test_labels,
                            args.train_count, args.test_count)
    except (OSError, ValueError) as error:
        print("prepare_data.py: error: {}".format(error), file=sys.stderr)
        return 1
    for path in paths:
        with path.open("rb") as handle:
            records = sum(1 for _ in handle)
        print("{}: {} records".format(path, records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
