"""recipes/cntk_mnist/prepare_data.py: MNIST IDX files to CNTK text format (runs on the project's Python)."""

import gzip
import hashlib
import importlib.util
import random
import struct
import sys
from pathlib import Path

import pytest

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "cntk_mnist"


def _load_prepare_data():
    spec = importlib.util.spec_from_file_location("cntk_mnist_prepare_data", RECIPE / "prepare_data.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # NamedTuple classes look their module up while being built
    spec.loader.exec_module(module)
    return module


prepare_data = _load_prepare_data()


def idx_bytes(magic, shape, data):
    return struct.pack(">I", magic) + struct.pack(">{}I".format(len(shape)), *shape) + bytes(data)


def write_mnist_pair(directory, count, rows=28, columns=28, compress=False, seed=0):
    """Random images and labels as an IDX pair; returns (images path, labels path, pixels, labels)."""
    rng = random.Random(seed)
    pixels = bytes(rng.randrange(256) for _ in range(count * rows * columns))
    labels = bytes(rng.randrange(10) for _ in range(count))
    suffix = ".gz" if compress else ""
    images_path = directory / ("images-idx3-ubyte" + suffix)
    labels_path = directory / ("labels-idx1-ubyte" + suffix)
    for path, content in ((images_path, idx_bytes(2051, (count, rows, columns), pixels)),
                          (labels_path, idx_bytes(2049, (count,), labels))):
        path.write_bytes(gzip.compress(content) if compress else content)
    return images_path, labels_path, pixels, labels


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_read_idx_returns_the_header_dimensions_and_the_data(tmp_path, compress):
    images, _, pixels, _ = write_mnist_pair(tmp_path, 3, compress=compress)

    shape, data = prepare_data.read_idx(images)

    assert shape == (3, 28, 28)
    assert data == pixels


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_ctf_written_from_idx_parses_back_to_the_same_pixels_and_labels(tmp_path, compress):
    images, labels, pixels, label_bytes = write_mnist_pair(tmp_path, 7, compress=compress)
    mnist = prepare_data.read_mnist(images, labels)

    written = prepare_data.write_ctf(tmp_path / "out.txt", mnist.images, mnist.labels)

    records = list(prepare_data.read_ctf(tmp_path / "out.txt"))
    assert written == 7
    assert [label for label, _ in records] == list(label_bytes)
    assert b"".join(image for _, image in records) == pixels


def test_ctf_lines_hold_a_one_hot_label_then_784_raw_pixel_values(tmp_path):
    images, labels, pixels, label_bytes = write_mnist_pair(tmp_path, 1)
    mnist = prepare_data.read_mnist(images, labels)

    prepare_data.write_ctf(tmp_path / "out.txt", mnist.images, mnist.labels)

    line = (tmp_path / "out.txt").read_text()
    one_hot = ["1" if column == label_bytes[0] else "0" for column in range(10)]
    assert line == "|labels {} |features {}\n".format(" ".join(one_hot), " ".join(str(p) for p in pixels))


def test_convert_with_a_test_pair_takes_the_first_records_of_each(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "test").mkdir()
    train_images, train_labels, train_pixels, _ = write_mnist_pair(tmp_path / "train", 10, seed=1)
    test_images, test_labels, test_pixels, _ = write_mnist_pair(tmp_path / "test", 6, seed=2)

    train, test = prepare_data.convert(tmp_path / "out", train_images, train_labels, test_images, test_labels,
                                       train_count=4, test_count=5)

    assert (train.name, test.name) == ("Train-28x28_cntk_text.txt", "Test-28x28_cntk_text.txt")
    assert b"".join(image for _, image in prepare_data.read_ctf(train)) == train_pixels[:4 * 784]
    assert b"".join(image for _, image in prepare_data.read_ctf(test)) == test_pixels[:5 * 784]


def test_convert_without_a_test_pair_splits_the_training_set(tmp_path):
    images, labels, pixels, label_bytes = write_mnist_pair(tmp_path, 10)

    train, test = prepare_data.convert(tmp_path / "out", images, labels, train_count=7)

    assert [label for label, _ in prepare_data.read_ctf(train)] == list(label_bytes[:7])
    assert [label for label, _ in prepare_data.read_ctf(test)] == list(label_bytes[7:])
    assert b"".join(image for _, image in prepare_data.read_ctf(test)) == pixels[7 * 784:]


def test_splitting_more_records_than_the_set_holds_is_refused(tmp_path):
    images, labels, _, _ = write_mnist_pair(tmp_path, 10)

    with pytest.raises(ValueError, match="cannot split 10 records into 7 train \\+ 5 test"):
        prepare_data.convert(tmp_path / "out", images, labels, train_count=7, test_count=5)


def test_a_bad_magic_number_is_reported_with_the_file_and_the_rule(tmp_path):
    path = tmp_path / "images"
    path.write_bytes(b"\x12\x34\x08\x03" + bytes(16))

    with pytest.raises(prepare_data.IdxFormatError, match="bad magic number 0x12340803") as caught:
        prepare_data.read_idx(path)

    assert caught.value.path == path
    assert str(path) in str(caught.value)


def test_a_non_byte_data_type_is_refused(tmp_path):
    path = tmp_path / "floats"
    path.write_bytes(idx_bytes(0x0D01, (1,), bytes(4)))

    with pytest.raises(prepare_data.IdxFormatError, match="0x0d \\(float\\) is not supported"):
        prepare_data.read_idx(path)


def test_truncated_data_is_reported_with_the_expected_and_actual_sizes(tmp_path):
    path = tmp_path / "images"
    path.write_bytes(idx_bytes(2051, (2, 28, 28), bytes(2 * 784 - 100)))

    with pytest.raises(prepare_data.IdxFormatError, match="truncated data: dimensions \\(2, 28, 28\\) need 1568 "
                                                          "bytes after the header, the file has 1468"):
        prepare_data.read_idx(path)


def test_a_truncated_header_is_reported(tmp_path):
    path = tmp_path / "images"
    path.write_bytes(idx_bytes(2051, (2, 28, 28), b"")[:10])

    with pytest.raises(prepare_data.IdxFormatError, match="truncated header"):
        prepare_data.read_idx(path)


def test_trailing_bytes_are_reported(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(2049, (3,), bytes(5)))

    with pytest.raises(prepare_data.IdxFormatError, match="2 trailing bytes"):
        prepare_data.read_idx(path)


def test_a_truncated_gzip_stream_is_reported(tmp_path):
    path = tmp_path / "images.gz"
    path.write_bytes(gzip.compress(idx_bytes(2051, (2, 28, 28), bytes(2 * 784)))[:-20])

    with pytest.raises(prepare_data.IdxFormatError, match="gzip stream is truncated or corrupt"):
        prepare_data.read_idx(path)


def test_a_labels_file_given_as_images_names_the_expected_magic(tmp_path):
    images, labels, _, _ = write_mnist_pair(tmp_path, 2)

    with pytest.raises(prepare_data.IdxFormatError, match="expected an IDX images file \\(magic 2051.*found "
                                                          "magic 2049 with 1 dimension") as caught:
        prepare_data.read_mnist(labels, images)

    assert caught.value.path == labels


def test_images_and_labels_with_different_counts_are_refused(tmp_path):
    images, _, _, _ = write_mnist_pair(tmp_path, 3)
    labels = tmp_path / "short-labels"
    labels.write_bytes(idx_bytes(2049, (2,), bytes(2)))

    with pytest.raises(prepare_data.IdxFormatError, match="holds 2 labels but .* holds 3 images"):
        prepare_data.read_mnist(images, labels)


def test_a_label_outside_0_to_9_is_refused(tmp_path):
    images, _, _, _ = write_mnist_pair(tmp_path, 3)
    labels = tmp_path / "bad-labels"
    labels.write_bytes(idx_bytes(2049, (3,), bytes([1, 12, 3])))

    with pytest.raises(prepare_data.IdxFormatError, match="label 12 at record 1 is out of range"):
        prepare_data.read_mnist(images, labels)


def test_images_that_are_not_28x28_are_refused_by_convert(tmp_path):
    images, labels, _, _ = write_mnist_pair(tmp_path, 3, rows=32, columns=32)

    with pytest.raises(prepare_data.IdxFormatError, match="images are 32x32"):
        prepare_data.convert(tmp_path / "out", images, labels, train_count=2)


def test_main_reports_a_bad_file_on_stderr_with_exit_status_1(tmp_path, capsys):
    bad = tmp_path / "images"
    bad.write_bytes(b"not an idx file")
    _, labels, _, _ = write_mnist_pair(tmp_path, 2)

    status = prepare_data.main([str(tmp_path / "out"), "--images", str(bad), "--labels", str(labels),
                                "--train-count", "1"])

    assert status == 1
    assert "prepare_data.py: error: {}: bad magic number".format(bad) in capsys.readouterr().err


def test_the_shipped_data_matches_its_checksums():
    sums = (RECIPE / "data" / "SHA256SUMS").read_text().split()
    listed = dict(zip(sums[1::2], sums[0::2]))

    assert sorted(listed) == sorted(prepare_data.SAMPLE_FILES.values())
    for name, digest in listed.items():
        assert hashlib.sha256((RECIPE / "data" / name).read_bytes()).hexdigest() == digest
    prepare_data.verify_checksums()


def test_a_damaged_shipped_file_fails_the_checksum_check(tmp_path):
    for name in [*list(prepare_data.SAMPLE_FILES.values()), "SHA256SUMS"]:
        (tmp_path / name).write_bytes((RECIPE / "data" / name).read_bytes())
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"damaged")

    with pytest.raises(prepare_data.ChecksumError, match="t10k-labels-idx1-ubyte.gz: SHA-256 .* does not match"):
        prepare_data.prepare_sample(tmp_path / "out", data_dir=tmp_path)


def test_prepare_sample_yields_8000_training_and_2000_test_records(tmp_path):
    train, test = prepare_data.prepare_sample(tmp_path)

    train_labels = [label for label, _ in prepare_data.read_ctf(train)]
    test_labels = [label for label, _ in prepare_data.read_ctf(test)]
    assert (len(train_labels), len(test_labels)) == (8000, 2000)
    # class counts stated in data/README.md
    assert [train_labels.count(digit) for digit in range(10)] == [793, 904, 780, 823, 792, 680, 829, 864, 745, 790]
    assert [test_labels.count(digit) for digit in range(10)] == [208, 223, 211, 209, 188, 183, 185, 206, 199, 188]


def test_prepare_sample_can_cut_a_small_slice(tmp_path):
    train, test = prepare_data.prepare_sample(tmp_path, train_count=100, test_count=20)

    assert len(train.read_text().splitlines()) == 100
    assert len(test.read_text().splitlines()) == 20
