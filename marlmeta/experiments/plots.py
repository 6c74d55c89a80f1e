"""Figures (PNG bytes) from ``results.json`` data; matplotlib only lives here."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

_COLORS = {"individual": "tab:blue", "meta": "tab:red"}
_LABELS = {"individual": "individual learning", "meta": "meta-learning"}


def _band(ax, x, mean, std, label, color):
    mean, std = np.asarray(mean), np.asarray(std)
    ax.plot(x, mean, color=color, label=label, marker="o", markersize=3)
    ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.2)


def plot_zero_sum_meta(results: dict) -> bytes:
    """Seed 000 Figure 2: (a) NashConv, (b) value, (c) stage-game NE policies."""
    x = results["checkpoints"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for label in ("individual", "meta"):
        r = results[label]
        _band(
            axes[0],
            x,
            r["nash_conv_mean"],
            r["nash_conv_std"],
            _LABELS[label],
            _COLORS[label],
        )
        _band(
            axes[1], x, r["value_mean"], r["value_std"], _LABELS[label], _COLORS[label]
        )
    sim = results["similarity"]
    axes[0].set(
        xscale="log",
        xlabel="iterations T",
        ylabel="NashConv (NE-gap) of the output policy",
        title=f"(a) NE-gap   [Delta: meta {sim['meta']:.3g}]",
    )
    axes[1].set(
        xscale="log",
        xlabel="iterations T",
        ylabel="max-player value",
        title="(b) value",
    )
    ne = results["ne_policies"]
    mu0, nu0 = np.asarray(ne["mu0"]), np.asarray(ne["nu0"])
    for s, marker in zip(range(mu0.shape[1]), "os", strict=False):
        axes[2].scatter(
            mu0[:, s], nu0[:, s], marker=marker, label=f"state {s}", alpha=0.7
        )
    axes[2].set(
        xlim=(-0.05, 1.05),
        ylim=(-0.05, 1.05),
        xlabel="mu_0*",
        ylabel="nu_0*",
        title="(c) NE of the perturbed stage games",
    )
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(results["name"])
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()
