"""PyTorch backend: a model behind the Backend interface, for evaluating .pt / .param files directly."""
from .runtime import TorchBackend

__all__ = ["TorchBackend"]
