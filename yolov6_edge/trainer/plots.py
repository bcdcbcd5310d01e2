"""Loss and mAP curves from the trainer's history (the rows of results.csv)."""
from ..atomic import atomic_path


def plot_history(history, path):
    if not history:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] + 1 for r in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for k in ("loss", "cls", "iou", "dfl", "d_cls", "d_dfl"):
        if any(k in r for r in history):
            ax1.plot(epochs, [r.get(k, float("nan")) for r in history], label=k)
    ax1.set_xlabel("epoch"), ax1.set_title("training loss"), ax1.legend()
    ev = [(r["epoch"] + 1, r["AP"], r["AP50"]) for r in history if "AP" in r]
    if ev:
        ax2.plot([e[0] for e in ev], [e[2] for e in ev], "o-", label="mAP@0.5")
        ax2.plot([e[0] for e in ev], [e[1] for e in ev], "s-", label="mAP@0.5:0.95")
        ax2.legend()
    ax2.set_xlabel("epoch"), ax2.set_title("validation (EMA weights)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path
