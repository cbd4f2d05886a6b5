"""The train stage: a linear regression over chunks of a CSV file, merged exactly."""

from poolpipe.train.choose import choose_columns
from poolpipe.train.columns import Columns
from poolpipe.train.csvparse import parse_block, row_capacity
from poolpipe.train.demo import write_train
from poolpipe.train.fit import TrainPart, train_chunks
from poolpipe.train.model import Options, model_json, train_file
from poolpipe.train.predict import predict_file
from poolpipe.train.scatter import Scatter
from poolpipe.train.solve import solve
from poolpipe.train.summary import summary_text

__all__ = [
    "Columns",
    "Options",
    "Scatter",
    "TrainPart",
    "choose_columns",
    "model_json",
    "parse_block",
    "predict_file",
    "row_capacity",
    "solve",
    "summary_text",
    "train_chunks",
    "train_file",
    "write_train",
]
