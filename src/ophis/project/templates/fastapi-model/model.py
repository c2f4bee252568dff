"""A small model shipped with the project: logistic regression telling Iris setosa from the
other two species by sepal and petal measurements (cm). Its weights were fitted once on
Fisher's Iris data; nothing is downloaded at run time."""

from __future__ import annotations

import math

FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
WEIGHTS = (0.41, 1.46, -2.26, -1.03)
BIAS = 0.27


def predict(features: list[float]) -> dict[str, object]:
    """The probability that the flower is a setosa, and the label."""
    if len(features) != len(FEATURES):
        raise ValueError(f"expected {len(FEATURES)} features: {', '.join(FEATURES)}")
    score = BIAS + sum(w * x for w, x in zip(WEIGHTS, features, strict=True))
    probability = 1 / (1 + math.exp(-score))
    return {
        "label": "setosa" if probability >= 0.5 else "not setosa",
        "probability": round(probability, 4),
    }
