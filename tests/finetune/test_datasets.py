"""Every dataset format parsed from small fixtures written in the official layouts."""
import pickle

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from finetune.datasets import build_dataset


def write_jpeg(path, seed):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(path)


def test_cifar10_pickles(tmp_path):
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    rng = np.random.default_rng(0)
    for i in range(1, 6):
        with open(base / f"data_batch_{i}", "wb") as f:
            pickle.dump({b"data": rng.integers(0, 255, (3, 3072), dtype=np.uint8), b"labels": [i, i, 0]}, f)
    test_data = rng.integers(0, 255, (2, 3072), dtype=np.uint8)
    with open(base / "test_batch", "wb") as f:
        pickle.dump({b"data": test_data, b"labels": [7, 9]}, f)
    with open(base / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [f"c{i}".encode() for i in range(10)]}, f)
    train = build_dataset("cifar10", tmp_path, "train")
    assert len(train) == 15 and train.classes[3] == "c3" and train[3][1] == 2
    image, label, index, skipped = build_dataset("cifar10", tmp_path, "test")[1]
    assert (label, index, skipped) == (9, 1, 0) and image.size == (32, 32)
    # channel-planar rows (R plane, G plane, B plane) become HWC pixels
    np.testing.assert_array_equal(np.asarray(image)[0, 1], test_data[1].reshape(3, 32, 32)[:, 0, 1])


def test_cifar100_fine_labels(tmp_path):
    base = tmp_path / "cifar-100-python"
    base.mkdir()
    for split, n in (("train", 4), ("test", 2)):
        with open(base / split, "wb") as f:
            pickle.dump({b"data": np.zeros((n, 3072), np.uint8), b"fine_labels": list(range(n)),
                         b"coarse_labels": [0] * n}, f)
    with open(base / "meta", "wb") as f:
        pickle.dump({b"fine_label_names": [f"f{i}".encode() for i in range(100)]}, f)
    data = build_dataset("cifar100", tmp_path, "train")
    assert len(data) == 4 and len(data.classes) == 100 and data[3][1] == 3


def test_flowers102_official_split(tmp_path):
    labels = np.array([[5, 5, 17, 102, 1, 1]])
    for i in range(1, 7):
        write_jpeg(tmp_path / "jpg" / f"image_{i:05d}.jpg", i)
    savemat(tmp_path / "imagelabels.mat", {"labels": labels})
    savemat(tmp_path / "setid.mat", {"trnid": np.array([[1, 3]]), "valid": np.array([[2, 5]]),
                                     "tstid": np.array([[4, 6]])})
    train, val, test = (build_dataset("flowers102", tmp_path, s) for s in ("train", "val", "test"))
    assert [t for _, t in train.samples] == [4, 16] and [t for _, t in test.samples] == [101, 0]
    assert val.samples[1][0].endswith("image_00005.jpg") and len(train.classes) == 102
    assert train[0][0].mode == "RGB"
    with pytest.raises(ValueError, match="splits"):
        build_dataset("flowers102", tmp_path, "holdout")


def test_stanford_dogs_lists(tmp_path):
    files = ["n02085620-Chihuahua/n02085620_1.jpg", "n02085782-Japanese_spaniel/n02085782_2.jpg"]
    for i, f in enumerate(files):
        write_jpeg(tmp_path / "Images" / f, i)
    (tmp_path / "lists").mkdir()
    cells = np.empty((2, 1), dtype=object)
    cells[0, 0], cells[1, 0] = np.array([files[0]]), np.array([files[1]])
    savemat(tmp_path / "lists" / "train_list.mat", {"file_list": cells, "labels": np.array([[1], [2]])})
    data = build_dataset("stanford_dogs", tmp_path, "train")
    assert [t for _, t in data.samples] == [0, 1] and data.samples[1][0].endswith(files[1])
    assert data[1][0].size == (24, 20)


def test_missing_files_name_what_to_put_where(tmp_path):
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py"):
        build_dataset("cifar10", tmp_path, "train")
    with pytest.raises(FileNotFoundError, match="imagelabels.mat"):
        build_dataset("flowers102", tmp_path, "train")
    with pytest.raises(FileNotFoundError, match="train_list.mat"):
        build_dataset("stanford_dogs", tmp_path, "train")
    with pytest.raises(ValueError, match="unknown dataset"):
        build_dataset("mnist", tmp_path, "train")
