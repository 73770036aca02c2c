"""Plugin trainers, by the model name they train."""

MODEL_TRAINERS = {}
