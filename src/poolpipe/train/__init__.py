"""The train stage: a linear regression over chunks of a CSV file, merged exactly.

Its modules, in the order they depend on each other: rows (a CSV row read, fast in C or by the
reference rule), columns (the header and the fields a fit uses), scatter (the mergeable summary
of rows), solve (the fit from it), inference (its statistics), fit (the passes over the rows
through the pool), model (model.json and its summary), predict (a saved model applied), demo.
"""

from poolpipe.train.columns import Columns, choose_columns
from poolpipe.train.demo import write_train
from poolpipe.train.fit import TrainPart, train_chunks, train_workers
from poolpipe.train.model import Options, model_json, summary_text, train_file
from poolpipe.train.predict import predict_file, predict_workers
from poolpipe.train.rows import parse_block, row_capacity
from poolpipe.train.scatter import Scatter
from poolpipe.train.solve import solve

__all__ = [
    "Columns",
    "Options",
    "Scatter",
    "TrainPart",
    "choose_columns",
    "model_json",
    "parse_block",
    "predict_file",
    "predict_workers",
    "row_capacity",
    "solve",
    "summary_text",
    "train_chunks",
    "train_file",
    "train_workers",
    "write_train",
]
