"""Native CPU letterbox against the OpenCV + numpy reference (tests/reference_ops.py)."""
import numpy as np
import pytest

from reference_ops import letterbox_reference
from yolov6_edge import ops

TOL = 1.0 / 255 + 1e-6  # cv2 rounds the resized pixels to uint8; we keep them in float

SIZES = [(1, 1), (1, 4000), (4000, 1), (3, 5), (37, 91), (481, 640), (640, 640), (320, 320), (1080, 1920),
         (719, 1281), (100, 57), (2, 3000), (639, 640), (641, 640)]


def _img(rng, h, w):
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("hw", SIZES)
def test_letterbox_matches_opencv_reference(hw, center):
    rng = np.random.default_rng(hw[0] * 7919 + hw[1])
    img = _img(rng, *hw)
    blob, params = ops.letterbox(img, (640, 640), center=center)
    ref, ref_params = letterbox_reference(img, (640, 640), center)
    assert blob.shape == (1, 3, 640, 640) and blob.dtype == np.float32
    np.testing.assert_allclose(params[0], ref_params, rtol=1e-6)
    assert np.abs(blob[0] - ref).max() <= TOL


@pytest.mark.parametrize("size", [(320, 480), (256, 64), (33, 17)])
def test_letterbox_non_square_outputs_and_upscaling(size):
    rng = np.random.default_rng(1)
    for hw in [(10, 10), (5, 300), (300, 5), (size[0] * 2, size[1] * 2)]:
        img = _img(rng, *hw)
        blob, params = ops.letterbox(img, size)
        ref, ref_params = letterbox_reference(img, size)
        np.testing.assert_allclose(params[0], ref_params, rtol=1e-6)
        assert np.abs(blob[0] - ref).max() <= TOL


def test_letterbox_smooth_image_is_close_to_exact():
    # On a smooth image cv2's uint8 rounding is the only difference: well under 1/255 on average.
    y, x = np.mgrid[0:480, 0:853]
    img = np.stack([(x * 255 // 852), (y * 255 // 479), ((x + y) % 256)], -1).astype(np.uint8)
    blob, _ = ops.letterbox(img, (640, 640))
    ref, _ = letterbox_reference(img, (640, 640))
    assert np.abs(blob[0] - ref).mean() < 0.3 / 255


def test_letterbox_mixed_batch_equals_single_calls():
    rng = np.random.default_rng(2)
    imgs = [_img(rng, *hw) for hw in [(1080, 1920), (17, 33), (640, 480), (1, 1), (999, 3)]]
    blob, params = ops.letterbox(imgs, (384, 640))
    assert blob.shape == (5, 3, 384, 640) and params.shape == (5, 3)
    for k, img in enumerate(imgs):
        one, p = ops.letterbox(img, (384, 640), threads=1)
        np.testing.assert_array_equal(blob[k], one[0])
        np.testing.assert_array_equal(params[k], p[0])
        ref, _ = letterbox_reference(img, (384, 640))
        assert np.abs(blob[k] - ref).max() <= TOL


def test_letterbox_float16_output():
    rng = np.random.default_rng(3)
    img = _img(rng, 333, 500)
    b16, p16 = ops.letterbox(img, (320, 320), dtype=np.float16)
    b32, p32 = ops.letterbox(img, (320, 320))
    assert b16.dtype == np.float16
    np.testing.assert_array_equal(p16, p32)
    # Our float->half rounding must be exactly numpy's (round to nearest even).
    np.testing.assert_array_equal(b16, b32.astype(np.float16))


def test_letterbox_pad_value_and_rgb_order():
    img = np.zeros((100, 200, 3), np.uint8)
    img[..., 0] = 10  # B
    img[..., 2] = 250  # R
    blob, params = ops.letterbox(img, (200, 200))
    scale, left, top = params[0]
    assert (scale, left, top) == (1.0, 0.0, 50.0)
    np.testing.assert_allclose(blob[0, :, :50], 114 / 255, rtol=1e-6)
    np.testing.assert_allclose(blob[0, :, 150:], 114 / 255, rtol=1e-6)
    np.testing.assert_allclose(blob[0, 0, 50:150], 250 / 255, rtol=1e-6)
    np.testing.assert_allclose(blob[0, 2, 50:150], 10 / 255, rtol=1e-6)


def test_letterbox_odd_padding_puts_extra_pixel_right_and_bottom():
    img = np.full((10, 7, 3), 200, np.uint8)  # r = 1 into 10 x 10: 3 columns of padding
    blob, params = ops.letterbox(img, (10, 10))
    assert params[0][1] == 1.0  # floor(3 / 2) on the left, 2 on the right
    col_is_pad = np.isclose(blob[0, 0, 5], 114 / 255)
    assert col_is_pad.tolist() == [True, False, False, False, False, False, False, False, True, True]


def test_letterbox_params_map_boxes_back():
    for h, w, size, center in [(1080, 1920, (640, 640), True), (500, 375, (320, 416), False),
                               (50, 90, (640, 640), True)]:
        img = np.zeros((h, w, 3), np.uint8)
        x1, y1, x2, y2 = int(w * 0.2), int(h * 0.3), int(w * 0.7), int(h * 0.9)
        img[y1:y2, x1:x2] = 255
        blob, params = ops.letterbox(img, size, center=center)
        scale, left, top = params[0]
        ys, xs = np.nonzero(blob[0, 0] > 0.5)
        back = ((xs.min() - left) / scale, (ys.min() - top) / scale, (xs.max() + 1 - left) / scale,
                (ys.max() + 1 - top) / scale)
        np.testing.assert_allclose(back, (x1, y1, x2, y2), atol=1.0 / scale + 0.5)


def test_letterbox_accepts_row_padded_crops():
    rng = np.random.default_rng(5)
    big = _img(rng, 300, 400)
    crop = big[10:200, 50:350]  # rows are 1200 bytes apart, pixels packed
    blob, _ = ops.letterbox(crop, (320, 320))
    ref, _ = letterbox_reference(np.ascontiguousarray(crop), (320, 320))
    assert np.abs(blob[0] - ref).max() <= TOL


@pytest.mark.parametrize("bad, message", [
    (np.zeros((10, 10, 3), np.float32), "dtype float32, expected uint8"),
    (np.zeros((10, 10), np.uint8), "expected (H, W, 3)"),
    (np.zeros((10, 10, 4), np.uint8), "expected (H, W, 3)"),
    (np.zeros((0, 10, 3), np.uint8), "is empty"),
    (np.zeros((10, 10, 3), np.uint8)[:, ::2], "not packed"),
])
def test_letterbox_rejects_bad_images(bad, message):
    with pytest.raises(ValueError, match="image 0") as e:
        ops.letterbox([bad], (64, 64))
    assert message in str(e.value)


def test_letterbox_rejects_bad_size_and_dtype():
    img = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match="size must be positive"):
        ops.letterbox(img, (0, 64))
    with pytest.raises(ValueError, match="float32 or float16"):
        ops.letterbox(img, (64, 64), dtype=np.int8)


def test_letterbox_empty_batch():
    blob, params = ops.letterbox([], (64, 64))
    assert blob.shape == (0, 3, 64, 64) and params.shape == (0, 3)
