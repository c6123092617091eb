"""Errors shared across skelnb's modules that have no better home."""


class InputError(ValueError):
    """Model input that cannot give a meaningful answer: NaN/inf values, too few frames for the
    model's poolings. Raised by the models' ``check_input`` before any layer runs."""
