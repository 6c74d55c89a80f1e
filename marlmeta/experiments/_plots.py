"""What the experiments' figures share; matplotlib is imported on first use."""

from __future__ import annotations

import io

import numpy as np


def pyplot():
    """``matplotlib.pyplot`` with the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png(fig, title: str) -> bytes:
    """Finish a figure and encode it as PNG bytes."""
    plt = pyplot()
    fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def band(ax, x, mean, std, label, color):
    """A mean curve with a band of one standard deviation."""
    mean, std = np.asarray(mean), np.asarray(std)
    ax.plot(x, mean, color=color, label=label, marker="o", markersize=3)
    ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.2)
