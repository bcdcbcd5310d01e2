"""Shared test fixtures: where ../shared is, and skipping cleanly when it is absent."""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("YOLOV6_EDGE_SHARED", ROOT.parent / "shared"))


def shared_path(*parts) -> Path:
    """Return ../shared/<parts>, or skip the test saying what is missing."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} not found: this test needs the ../shared data set beside the checkout")
    return p


@pytest.fixture
def shared():
    return shared_path


@pytest.fixture(autouse=True, scope="session")
def _few_threads():
    # The CI machine has 2 cores; keep torch from oversubscribing them when several workers run.
    try:
        import torch

        torch.set_num_threads(2)
    except ImportError:
        pass
