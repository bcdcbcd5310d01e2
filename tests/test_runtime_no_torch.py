"""The runtime path (Detector on an .onnx, images, videos, NMS, drawing, eval scoring) never imports torch."""
import subprocess
import sys
import textwrap

from standin_models import TinyContractModel
from yolov6_edge.export.onnx import export_onnx


def test_detector_on_onnx_does_not_import_torch(tmp_path):
    export_onnx(TinyContractModel(), tmp_path / "tiny.onnx", img_size=(64, 64))
    code = textwrap.dedent(f"""
        import sys
        import numpy as np
        import yolov6_edge
        from yolov6_edge.runtime.draw import draw
        det = yolov6_edge.Detector({str(tmp_path / 'tiny.onnx')!r}, conf=0.1)
        img = np.full((50, 70, 3), 128, np.uint8)
        result = det(img)
        draw(img, result)
        det([img, img])
        import cv2
        vw = cv2.VideoWriter({str(tmp_path / 'v.avi')!r}, cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (70, 50))
        for _ in range(3):
            vw.write(img)
        vw.release()
        assert [r.frame_index for r in det.stream({str(tmp_path / 'v.avi')!r}, batch=2)] == [0, 1, 2]
        import importlib.util
        if importlib.util.find_spec("supervision"):  # tracking (the [track] extra) stays torch-free too
            assert len(list(det.stream({str(tmp_path / 'v.avi')!r}, track=True))) == 3
        import yolov6_edge.cli.predict_stream, yolov6_edge.runtime.stream_writer
        import yolov6_edge.cli.main, yolov6_edge.cli.predict, yolov6_edge.cli.evaluate, yolov6_edge.cli.info
        yolov6_edge.cli.main.build_parser()
        loaded = [m for m in sys.modules if m == "torch" or m.startswith("torch.")]
        print("TORCH" if loaded else "NO_TORCH", loaded[:3])
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "NO_TORCH" in out.stdout, out.stdout
