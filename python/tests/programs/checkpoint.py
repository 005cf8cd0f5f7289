"""Checkpoint loading, as in model repositories: pickle.load of a file."""

import pickle


def load(path):
    with open(path, "rb") as f:
        return pickle.load(f)
