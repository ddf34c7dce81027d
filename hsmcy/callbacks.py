"""Training callbacks (gensim's ``CallbackAny2Vec`` protocol).

:class:`Checkpoint` saves the model after every epoch, together with where the
training run stands, so that a crash or a Ctrl-C costs at most one epoch::

    model.train(corpus, total_examples=model.corpus_count, epochs=20,
                callbacks=[Checkpoint("run.hsmcy")])
    # ... the machine dies during epoch 13 ...
    model = Word2Vec.load("run.hsmcy")          # the state after epoch 12
    model.resume_training(corpus)               # epochs 13..20, same learning-rate schedule
"""
from __future__ import annotations

import logging
import os

from gensim.models.callbacks import CallbackAny2Vec

from .formats import check_hsmcy_output

logger = logging.getLogger(__name__)

__all__ = ["Checkpoint"]


class Checkpoint(CallbackAny2Vec):
    """Save the model after every ``every`` epochs (and after the last one).

    Each save is atomic (temporary file, fsync, rename), so the file at ``path``
    always holds a complete model: the one after the latest finished epoch.  The
    file carries the run's resume state (``model.training_state`` after loading):
    :meth:`hsmcy.Word2Vec.resume_training` continues from it with the learning-rate
    schedule, random streams and counters where they were.

    Parameters
    ----------
    path : str or PathLike
        Where to save.  It may contain ``{epoch}`` (1-based epochs finished in the
        current run) to keep one file per epoch instead of overwriting one.
    every : int, default 1
        Save after every ``every``-th epoch.
    """

    def __init__(self, path, every=1):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        self.path = os.fspath(path)
        check_hsmcy_output(self.path, "word2vec")  # now, not at the end of the first epoch
        self.every = every
        self.saved = []  # paths written, in order

    def on_epoch_end(self, model):
        run = model._current_run
        epochs_done = run.epochs_done if run is not None else 0
        last = run is None or epochs_done >= run.epochs
        if epochs_done % self.every and not last:
            return
        path = self.path.format(epoch=epochs_done)
        model.save(path)
        self.saved.append(path)
        logger.info("checkpoint after epoch %d saved to %s", epochs_done, path)
