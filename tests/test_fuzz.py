"""Fuzz the native ops and the loaders with a fixed seed (tests/fuzz.py): random shapes, dtypes, NaN/inf,
truncated and mutated files. Any abort, hang, unexpected exception, multi-line message or malformed result
fails. 250 cases (recipes, official .pt trees and streams among the targets), about 40 s on the 2-core CI box;
`python tests/fuzz.py --seconds 600` runs longer."""
import fuzz
from conftest import SHARED

CASES = 250
SEED = 17


def test_fuzz_ops_and_loaders_fixed_seed():
    result = fuzz.fuzz(seed=SEED, cases=CASES, hang_seconds=45, quiet=True)
    print(fuzz.report_markdown(result, f"fuzz(seed={SEED}, cases={CASES})"))
    # every case index is run or, for targets that mutate a ../shared file, skipped where ../shared is absent
    skipped = sum(result["skipped"].values())
    assert result["cases"] + skipped == CASES
    if SHARED.is_dir():
        assert skipped == 0, result["skipped"]
    assert not result["failures"], "\n".join(
        f"case {f['index']} ({f['target']}): {f.get('case')}: {f['failure']}\n"
        f"{f.get('traceback') or f.get('stderr') or ''}"
        for f in result["failures"][:5])
    ops = sum(result["per_target"].get(t, 0) for t in ("letterbox", "batched_nms", "decode_boxes"))
    assert ops > CASES / 3 and len(result["per_target"]) >= 9, result["per_target"]
    assert {"recipe", "stream"} <= set(result["per_target"]), result["per_target"]  # issue 26's targets ran
    if SHARED.is_dir():
        assert "official_tree" in result["per_target"], result["per_target"]
