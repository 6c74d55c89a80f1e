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
    """Finish a figure and encode it as PNG bytes.

    Raises:
        ValueError: a panel in use has no x or y axis label (every figure is
            read without the code).
    """
    for ax in fig.axes:
        if ax.axison and not (ax.get_xlabel() and ax.get_ylabel()):
            raise ValueError(
                f"figure {title!r}: panel {ax.get_title()!r} needs x and y labels"
            )
    plt = pyplot()
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))  # title room
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


#: Metric names in words, for titles and axis labels.
METRIC_WORDS = {
    "nash_conv": "NashConv",
    "ne_gap": "NE-gap",
    "mpg_ne_gap": "NE-gap",
    "cce_gap": "CCE-gap",
}


def words(metric: str) -> str:
    """A metric's name in words (``mpg_ne_gap`` -> ``NE-gap``)."""
    return METRIC_WORDS.get(metric, metric.replace("_", " "))


def band(ax, x, mean, std, label, color, over: str):
    """A mean curve with a shaded band of one standard deviation over
    ``over`` (e.g. ``"20 seeds"``); the axes' legend says so once."""
    mean, std = np.asarray(mean), np.asarray(std)
    ax.plot(x, mean, color=color, label=label, marker="o", markersize=3)
    said = any(t.startswith("shaded:") for t in ax.get_legend_handles_labels()[1])
    text = None if said else f"shaded: ±1 s.d. over {over}"
    ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.2, label=text)
