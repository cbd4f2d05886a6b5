"""The train stage: a linear regression over chunks of a CSV file, merged exactly."""

from poolpipe.train.csvparse import BadRow, Columns, choose_columns
from poolpipe.train.demo import write_train
from poolpipe.train.fit import Fit, Scatter, TrainPart, model_json, solve, train_chunks, train_file

__all__ = [
    "BadRow",
    "Columns",
    "Fit",
    "Scatter",
    "TrainPart",
    "choose_columns",
    "model_json",
    "solve",
    "train_chunks",
    "train_file",
    "write_train",
]
