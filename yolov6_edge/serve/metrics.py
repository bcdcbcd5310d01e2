"""What a running server says about its work: Prometheus metrics (/metrics) and per-model statistics.

Triton counts per model (docs/SERVING.md): nv_inference_request_success / _failure (requests),
nv_inference_count (images: the batch dimension summed), nv_inference_exec_count (model executions: one per
batch the scheduler formed). Fewer executions than requests means dynamic batching merged requests; the
statistics extension adds how many executions ran at each batch size.
"""
import json
import re
import urllib.request

_LINE = re.compile(r'^(\w+)\{([^}]*)\}\s+([-+0-9.eE]+|NaN|[+-]Inf)\s*$')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> dict:
    """Prometheus text -> {metric: {frozenset(labels.items()): value}} (labelled samples only)."""
    out = {}
    for line in text.splitlines():
        m = _LINE.match(line.strip())
        if m:
            labels = frozenset(_LABEL.findall(m.group(2)))
            out.setdefault(m.group(1), {})[labels] = float(m.group(3))
    return out


def read_metrics(url: str, timeout: float = 10.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return parse_metrics(r.read().decode())


def model_counts(metrics: dict, model: str) -> dict:
    """requests (succeeded), failures, inferences (images) and executions of one model, summed over versions."""
    def total(name, **match):
        return sum(v for labels, v in metrics.get(name, {}).items()
                   if dict(labels).get("model") == model and all(dict(labels).get(k) == w for k, w in match.items()))

    return {"requests": total("nv_inference_request_success"), "failures": total("nv_inference_request_failure"),
            "inferences": total("nv_inference_count"), "executions": total("nv_inference_exec_count")}


def batch_sizes(http_url: str, model: str, timeout: float = 10.0) -> dict:
    """{batch size: executions} the server ran for `model` (statistics extension, GET /v2/models/M/stats)."""
    with urllib.request.urlopen(f"{http_url}/v2/models/{model}/stats", timeout=timeout) as r:
        stats = json.loads(r.read().decode())
    sizes = {}
    for s in stats.get("model_stats", []):
        for b in s.get("batch_stats", []):
            sizes[int(b["batch_size"])] = sizes.get(int(b["batch_size"]), 0) + int(b["compute_infer"]["count"])
    return dict(sorted(sizes.items()))
