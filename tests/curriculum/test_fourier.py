"""Low-frequency cropping against independent references (NumPy, SciPy) and the paper's Prop. 1."""
import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn.functional as F
from PIL import Image

from curriculum.fourier import LowFrequencyCrop, low_frequency_crop

METHODS = ["fft", "matrix"]

SHAPES = [(16, 16, 8), (15, 15, 7), (16, 16, 7), (15, 15, 8), (17, 12, (9, 6)), (32, 32, 32), (9, 9, 1)]


def numpy_fourier_crop(x: np.ndarray, bh: int, bw: int) -> np.ndarray:
    """Reference: centred-block crop of the shifted spectrum, with the even-size Nyquist bins folded by hand."""
    def crop_axis(spec, b, axis):
        n = spec.shape[axis]
        if b == n:
            return spec
        freqs = np.fft.fftfreq(n, 1 / n).round().astype(int)  # integer frequency of every bin
        keep = [np.flatnonzero(freqs == k)[0] for k in range(-(b // 2), (b + 1) // 2)]
        out = np.take(spec, keep, axis=axis)
        if b % 2 == 0:  # the lone output Nyquist bin -b/2 also receives +b/2
            idx = [slice(None)] * spec.ndim
            idx[axis] = 0
            out[tuple(idx)] += np.take(spec, np.flatnonzero(freqs == b // 2)[0], axis=axis)
        return np.fft.ifftshift(out, axes=axis)
    spec = np.fft.fft2(x)
    spec = crop_axis(crop_axis(spec, bh, -2), bw, -1)
    return np.fft.ifft2(spec).real * (bh * bw) / (x.shape[-2] * x.shape[-1])


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("h,w,size", SHAPES)
def test_matches_numpy_and_scipy(h, w, size, method):
    bh, bw = (size, size) if isinstance(size, int) else size
    x = torch.randn(2, 3, h, w, dtype=torch.float64)
    out = low_frequency_crop(x, size, method).numpy()
    assert out.shape == (2, 3, bh, bw)
    np.testing.assert_allclose(out, numpy_fourier_crop(x.numpy(), bh, bw), atol=1e-12)
    scipy_ref = scipy.signal.resample(scipy.signal.resample(x.numpy(), bh, axis=-2), bw, axis=-1)
    np.testing.assert_allclose(out, scipy_ref, atol=1e-12)


@pytest.mark.parametrize("b", [7, 8])
def test_prop1_spectrum_is_centred_block(b):
    """Prop. 1: the crop's spectrum is the centred b x b block of the input spectrum times b^2/(HW)."""
    h = 20
    x = torch.randn(1, 1, h, h, dtype=torch.float64)
    crop_spec = np.fft.fftshift(np.fft.fft2(low_frequency_crop(x, b).numpy()[0, 0]))
    full_spec = np.fft.fftshift(np.fft.fft2(x.numpy()[0, 0]))
    c = h // 2
    block = full_spec[c - b // 2: c - b // 2 + b, c - b // 2: c - b // 2 + b] * b * b / (h * h)
    inner = slice(1, None) if b % 2 == 0 else slice(None)  # even b: row/column 0 is the folded Nyquist bin
    np.testing.assert_allclose(crop_spec[inner, inner], block[inner, inner], atol=1e-10)


def test_bilinear_downsampling_does_not_keep_the_spectrum():
    h, b = 32, 16
    x = torch.randn(1, 1, h, h, dtype=torch.float64)
    c = h // 2
    block = np.fft.fftshift(np.fft.fft2(x.numpy()[0, 0]))[c - b // 2: c + b // 2, c - b // 2: c + b // 2] * b * b / h ** 2
    bilinear = F.interpolate(x, size=(b, b), mode="bilinear", align_corners=False, antialias=True)
    bilinear_spec = np.fft.fftshift(np.fft.fft2(bilinear.numpy()[0, 0]))
    relative_error = np.abs(bilinear_spec[1:, 1:] - block[1:, 1:]).sum() / np.abs(block[1:, 1:]).sum()
    assert relative_error > 0.2


def test_inverse_of_fourier_upsampling_and_constant_preserved():
    y = torch.randn(1, 3, 10, 10, dtype=torch.float64)
    up = torch.from_numpy(scipy.signal.resample(scipy.signal.resample(y.numpy(), 24, axis=-2), 24, axis=-1))
    torch.testing.assert_close(low_frequency_crop(up, 10), y)
    constant = torch.full((1, 3, 33, 33), 0.37)
    torch.testing.assert_close(low_frequency_crop(constant, 16), torch.full((1, 3, 16, 16), 0.37))


@pytest.mark.parametrize("method", METHODS)
def test_dtypes_and_gradients(method):
    x = torch.randn(2, 3, 16, 16, requires_grad=True)
    low_frequency_crop(x, 8, method).sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape
    half = low_frequency_crop(torch.randn(1, 3, 16, 16).bfloat16(), 12, method)
    assert half.dtype == torch.bfloat16 and half.shape == (1, 3, 12, 12)


@pytest.mark.parametrize("h,w,size", [(64, 64, 46), (64, 64, 27), (20, 17, (9, 16))])
def test_the_methods_agree_in_float32(h, w, size):
    """The matrix products and the FFTs are one map: in float32 on pixel-scale values they differ by round-off."""
    x = torch.rand(4, 3, h, w) * 255
    reference = low_frequency_crop(x.double(), size, "fft")
    for method in ("auto", *METHODS):
        torch.testing.assert_close(low_frequency_crop(x, size, method).double(), reference, rtol=0, atol=2e-3)


def test_an_unknown_method_is_refused():
    with pytest.raises(ValueError, match="method must be one of"):
        low_frequency_crop(torch.randn(1, 3, 16, 16), 8, "dct")


@pytest.mark.parametrize("bad,match", [(0, "positive"), (-3, "positive"), (17, "exceeds"), ((8,), "pair"),
                                       (8.5, "int")])
def test_bad_sizes(bad, match):
    with pytest.raises(ValueError, match=match):
        low_frequency_crop(torch.randn(1, 3, 16, 16), bad)


def test_bad_tensors():
    with pytest.raises(ValueError, match="4-D"):
        low_frequency_crop(torch.randn(3, 16, 16), 8)
    with pytest.raises(TypeError, match="floating"):
        low_frequency_crop(torch.zeros(1, 3, 16, 16, dtype=torch.uint8), 8)


def test_per_image_transform_on_pil_and_tensor():
    rng = np.random.default_rng(0)
    array = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    out = LowFrequencyCrop(12)(Image.fromarray(array))
    assert isinstance(out, Image.Image) and out.size == (12, 12) and out.mode == "RGB"
    reference = numpy_fourier_crop(array.transpose(2, 0, 1).astype(np.float64), 12, 12).transpose(1, 2, 0)
    np.testing.assert_array_equal(np.asarray(out), np.clip(np.rint(reference), 0, 255).astype(np.uint8))
    gray = LowFrequencyCrop((8, 10))(Image.fromarray(array[..., 0]))
    assert gray.mode == "L" and gray.size == (10, 8)
    tensor = torch.from_numpy(array).permute(2, 0, 1).double()
    torch.testing.assert_close(LowFrequencyCrop(12)(tensor), torch.from_numpy(reference).permute(2, 0, 1))
    with pytest.raises(TypeError, match="PIL image"):
        LowFrequencyCrop(8)(np.zeros((16, 16, 3)))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("size", [5, 7])
def test_the_crop_is_linear_and_its_adjoint_is_fourier_upsampling(size, method):
    """<crop(x), y> = <x, crop*(y)> with crop* = (b^2 / HW) x Fourier up-sampling (scipy.signal.resample), odd b."""
    import scipy.signal
    torch.manual_seed(0)
    x, z = torch.randn(2, 3, 12, 10, dtype=torch.float64), torch.randn(2, 3, 12, 10, dtype=torch.float64)
    torch.testing.assert_close(low_frequency_crop(2 * x - 3 * z, size, method),
                               2 * low_frequency_crop(x, size, method) - 3 * low_frequency_crop(z, size, method))
    y = torch.randn(2, 3, size, size, dtype=torch.float64)
    x.requires_grad_(True)
    (adjoint,) = torch.autograd.grad(low_frequency_crop(x, size, method), x, grad_outputs=y)
    upsampled = scipy.signal.resample(scipy.signal.resample(y.numpy(), 12, axis=-2), 10, axis=-1)
    torch.testing.assert_close(adjoint, torch.from_numpy(upsampled) * size * size / (12 * 10))


def test_auto_takes_the_matrix_products_on_the_cpu(monkeypatch):
    def no_fft(*args, **kwargs):
        raise AssertionError("the FFT path ran")
    x = torch.randn(2, 3, 16, 16)
    expected = low_frequency_crop(x, 9, "matrix")
    monkeypatch.setattr(torch.fft, "fft2", no_fft)
    torch.testing.assert_close(low_frequency_crop(x, 9), expected, rtol=0, atol=0)
    with pytest.raises(AssertionError, match="FFT path"):
        low_frequency_crop(x, 9, "fft")
