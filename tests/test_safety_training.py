"""Interrupts, worker exceptions, checkpoints and divergence during training."""
import _thread
import os
import re
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

import numpy as np
import pytest
from safety_helpers import synthetic_sentences

import hsmcy
from hsmcy import _training
from hsmcy.callbacks import Checkpoint
from conftest import live_threads


def fresh_model(sentences, **overrides):
    parameters = dict(vector_size=16, min_count=2, workers=1, seed=3, sg=0, window=3, batch_words=2000)
    parameters.update(overrides)
    model = hsmcy.Word2Vec(**parameters)
    model.build_vocab(sentences)
    return model



class RaiseAt:
    """Callback raising ``error`` at the ``n``-th call of ``hook``."""

    def __init__(self, hook, n, error):
        self.n, self.error, self.calls = n, error, 0
        setattr(self, hook, self._hook)

    def _hook(self, model):
        self.calls += 1
        if self.calls == self.n:
            raise self.error


@pytest.fixture(scope="module")
def reference_run(lee_sentences):
    """An uninterrupted 4-epoch run with one worker: what every resumed run must equal."""
    model = fresh_model(lee_sentences)
    model.train(lee_sentences, total_examples=len(lee_sentences), epochs=4, compute_loss=True)
    return model


def assert_bitwise_equal(a, b):
    assert np.array_equal(a.wv.vectors, b.wv.vectors)
    assert np.array_equal(a.syn1, b.syn1)


# ------------------------------------------------------------------ Ctrl-C
def test_keyboard_interrupt_in_a_worker_stops_cleanly_and_resumes_bit_for_bit(lee_sentences, reference_run,
                                                                              tmp_path):
    model = fresh_model(lee_sentences)
    with pytest.raises(KeyboardInterrupt) as caught:
        model.train(lee_sentences, total_examples=len(lee_sentences), epochs=4, compute_loss=True,
                    callbacks=[RaiseAt("on_batch_end", 40, KeyboardInterrupt())])
    note = " ".join(getattr(caught.value, "__notes__", []))
    assert "training stopped in epoch 2 of 4" in note and "can be saved" in note
    assert live_threads("hsmcy-worker") == []
    state = model.training_state
    assert state["epoch"] == 1 and len(state["batches_done"]) > 0
    model.save(tmp_path / "interrupted.hsmcy")
    loaded = hsmcy.Word2Vec.load(tmp_path / "interrupted.hsmcy")
    assert loaded.training_state == state
    loaded.resume_training(lee_sentences)
    assert_bitwise_equal(loaded, reference_run)
    assert loaded.get_latest_training_loss() == pytest.approx(reference_run.get_latest_training_loss(), rel=1e-12)
    assert loaded.training_state is None and loaded.train_count == reference_run.train_count
    # and without a save/load in between
    model.resume_training(lee_sentences)
    assert_bitwise_equal(model, reference_run)


def _interrupt_after(delay, how):
    main = threading.main_thread().ident
    interrupted_at = []

    def fire():
        interrupted_at.append(time.perf_counter())
        if how == "interrupt_main":
            _thread.interrupt_main()
        else:
            signal.pthread_kill(main, signal.SIGINT)

    timer = threading.Timer(delay, fire)
    timer.start()
    return timer, interrupted_at


@pytest.fixture(scope="module")
def big_sentences():
    return synthetic_sentences(20_000, 20, 5_000, seed=1)  # 400k tokens


@pytest.mark.parametrize("how", ["interrupt_main", "SIGINT"])
def test_ctrl_c_in_the_caller_stops_all_workers_within_a_second(big_sentences, tmp_path, how):
    model = fresh_model(big_sentences, workers=4, vector_size=32, batch_words=10_000)
    timer, interrupted_at = _interrupt_after(0.5, how)
    try:
        with pytest.raises(KeyboardInterrupt) as caught:
            model.train(big_sentences, total_examples=len(big_sentences), epochs=50)
        stopped = time.perf_counter()
    finally:
        timer.cancel()
    assert interrupted_at, "training finished before the interrupt: make the run longer"
    assert stopped - interrupted_at[0] < 1.0
    assert live_threads("hsmcy-worker") == []
    assert "training stopped in epoch" in " ".join(getattr(caught.value, "__notes__", []))
    assert model.training_state is not None
    assert _training.all_finite(model.wv.vectors) and _training.all_finite(model.syn1)
    model.save(tmp_path / "m.hsmcy")
    assert hsmcy.Word2Vec.load(tmp_path / "m.hsmcy").training_state == model.training_state


# ------------------------------------------------------------ worker exceptions
def test_worker_exception_stops_the_others_and_keeps_its_traceback(lee_sentences, tmp_path):
    model = fresh_model(lee_sentences, workers=3)
    failing = RaiseAt("on_batch_end", 3, ValueError("boom in a callback"))
    checkpoint = tmp_path / "never-written.hsmcy"
    with pytest.raises(ValueError, match="boom in a callback") as caught:
        model.train(lee_sentences, total_examples=len(lee_sentences), epochs=3,
                    callbacks=[failing, Checkpoint(checkpoint)])
    frames = [frame.name for frame in traceback.extract_tb(caught.value.__traceback__)]
    assert "_hook" in frames and "_train_batch" in frames  # raised where it happened, inside the worker
    assert live_threads("hsmcy-worker") == []
    state = model.training_state
    n_batches = state["n_batches"]
    assert state["epoch"] == 0 and len(state["batches_done"]) < n_batches  # the others stopped early
    assert not checkpoint.exists() and os.listdir(tmp_path) == []  # no model file, whole or half
    assert model.get_latest_training_loss() == 0.0 or model._current_run is None


class FlakyCorpus:
    """A re-iterable corpus whose iterator raises after ``fail_after`` sentences."""

    def __init__(self, sentences, fail_after):
        self.sentences, self.fail_after = sentences, fail_after

    def __iter__(self):
        for number, sentence in enumerate(self.sentences):
            if number == self.fail_after:
                raise OSError("network drive went away")
            yield sentence


def test_corpus_iterator_raising_during_build_vocab(lee_sentences):
    model = hsmcy.Word2Vec(vector_size=8, min_count=1, workers=2)
    with pytest.raises(OSError, match="network drive went away") as caught:
        model.build_vocab(FlakyCorpus(lee_sentences, 100))
    assert "__iter__" in [frame.name for frame in traceback.extract_tb(caught.value.__traceback__)]
    assert len(model.wv) == 0 and model.tree is None  # nothing half-built
    with pytest.raises(OSError, match="network drive went away"):
        hsmcy.Word2Vec(FlakyCorpus(lee_sentences, 100), min_count=1)


def test_corpus_iterator_raising_during_train(lee_sentences):
    model = fresh_model(lee_sentences)
    before = model.wv.vectors.copy()
    with pytest.raises(OSError, match="network drive went away"):
        model.train(FlakyCorpus(lee_sentences, 200), total_examples=len(lee_sentences), epochs=1)
    np.testing.assert_array_equal(model.wv.vectors, before)  # nothing trained on a partial corpus
    model.train(lee_sentences, total_examples=len(lee_sentences), epochs=1)  # still usable


# ------------------------------------------------------------------ checkpoints
def test_checkpoint_every_epoch_and_resume_from_each(lee_sentences, reference_run, tmp_path):
    model = fresh_model(lee_sentences)
    checkpoint = Checkpoint(tmp_path / "epoch-{epoch}.hsmcy")
    model.train(lee_sentences, total_examples=len(lee_sentences), epochs=4, compute_loss=True,
                callbacks=[checkpoint])
    assert [os.path.basename(p) for p in checkpoint.saved] == [f"epoch-{e}.hsmcy" for e in (1, 2, 3, 4)]
    assert_bitwise_equal(model, reference_run)  # the callback changes nothing
    assert hsmcy.Word2Vec.load(checkpoint.saved[-1]).training_state is None  # finished
    for epochs_done, path in list(enumerate(checkpoint.saved, start=1))[::2]:  # after epochs 1 and 3
        resumed = hsmcy.Word2Vec.load(path)
        assert resumed.training_state["epoch"] == epochs_done
        assert resumed.training_state["batches_done"] == []
        resumed.resume_training(lee_sentences)
        assert_bitwise_equal(resumed, reference_run)
    with pytest.raises(ValueError, match="nothing to resume"):
        resumed.resume_training(lee_sentences)


def test_resume_with_a_progress_bar(lee_sentences, reference_run, tmp_path, capsys):
    model = fresh_model(lee_sentences)
    checkpoint = Checkpoint(tmp_path / "epoch-{epoch}.hsmcy")
    model.train(lee_sentences, total_examples=len(lee_sentences), epochs=4, compute_loss=True,
                callbacks=[checkpoint])
    resumed = hsmcy.Word2Vec.load(checkpoint.saved[1])
    capsys.readouterr()
    resumed.resume_training(lee_sentences, progress=True)
    assert_bitwise_equal(resumed, reference_run)
    assert capsys.readouterr().err.strip()   # the bar was drawn on stderr


def test_checkpoint_after_a_crash_resumes_with_the_same_schedule_on_several_workers(lee_sentences, tmp_path,
                                                                                     recording_workers):
    """With 2 workers, Hogwild makes vectors differ run to run; the learning-rate schedule must not."""
    calls = recording_workers   # per batch: (alpha_start, alpha_end, words)
    fresh_model(lee_sentences, workers=2).train(lee_sentences, total_examples=len(lee_sentences), epochs=3)
    uninterrupted, calls[:] = sorted(batch_schedule(calls)), []

    model = fresh_model(lee_sentences, workers=2)
    path = tmp_path / "run.hsmcy"
    with pytest.raises(KeyboardInterrupt):
        model.train(lee_sentences, total_examples=len(lee_sentences), epochs=3,
                    callbacks=[Checkpoint(path), RaiseAt("on_epoch_end", 2, KeyboardInterrupt())])
    resumed = hsmcy.Word2Vec.load(path)
    assert resumed.training_state["epoch"] == 2
    # what ran before the checkpoint plus what runs after it = the uninterrupted schedule
    resumed.resume_training(lee_sentences)
    assert sorted(batch_schedule(calls)) == uninterrupted


def batch_schedule(log):
    """``(alpha_start, alpha_end, words)`` of every batch a recorded worker trained."""
    return [(entry[6], entry[7], entry[5] - entry[4]) for entry in log if entry[0] == "train"]


def test_resume_refuses_a_different_corpus(lee_sentences):
    model = fresh_model(lee_sentences)
    with pytest.raises(KeyboardInterrupt):
        model.train(lee_sentences, total_examples=len(lee_sentences), epochs=2,
                    callbacks=[RaiseAt("on_batch_end", 5, KeyboardInterrupt())])
    with pytest.raises(ValueError, match="resume with the same corpus"):
        model.resume_training(lee_sentences[:-50])


def test_checkpoint_rejects_bad_every():
    with pytest.raises(ValueError, match="every"):
        Checkpoint("x", every=0)


# ------------------------------------------------------------------ divergence
@pytest.mark.parametrize("sg", [0, 1])
def test_nan_or_inf_during_training_stops_with_an_error(lee_sentences, tmp_path, sg):
    model = fresh_model(lee_sentences, sg=sg, alpha=1e30)
    with pytest.raises(FloatingPointError, match=r"training diverged.*epoch 1 \(batch (\d+)") as caught:
        model.train(lee_sentences, total_examples=len(lee_sentences), epochs=3)
    assert int(re.search(r"batch (\d+)", str(caught.value)).group(1)) < 5  # caught within a few batches, not at the end
    assert live_threads("hsmcy-worker") == []
    with pytest.raises(ValueError, match="refusing to save a diverged model"):
        model.save(tmp_path / "nan.hsmcy")
    assert not (tmp_path / "nan.hsmcy").exists()
    with pytest.raises(ValueError, match="NaN or infinite.*reload a checkpoint"):
        model.train(lee_sentences, total_examples=len(lee_sentences), epochs=1)


def test_full_check_after_each_epoch_catches_what_the_sentinel_misses(lee_sentences):
    """A non-finite value away from the top of the tree: caught at the end of the epoch."""
    model = fresh_model(lee_sentences)
    rare = len(model.wv) - 1

    class PoisonAfterLastBatch:
        calls = 0

        def on_batch_end(self, m):
            self.calls += 1
            if self.calls == m._current_run.n_batches:  # after the last batch's own check
                m.wv.vectors[rare, 0] = np.inf

    with pytest.raises(FloatingPointError, match="input vectors hold NaN or infinite values after epoch 1"):
        model.train(lee_sentences, total_examples=len(lee_sentences), epochs=2, callbacks=[PoisonAfterLastBatch()])


def test_sentinel_nodes_are_the_top_of_the_tree(lee_sentences):
    model = fresh_model(lee_sentences)
    nodes = _training.sentinel_nodes(model.tree, levels=2)
    root = model.tree.path_nodes[0]
    children = {int(model.tree.path(w)[0][1]) for w in range(len(model.wv)) if len(model.tree.path(w)[0]) > 1}
    assert set(nodes.tolist()) == {int(root)} | children


def test_ctrl_c_during_a_checkpoint_save_keeps_the_previous_checkpoint(lee_sentences, reference_run, tmp_path,
                                                                      monkeypatch):
    path = tmp_path / "run.hsmcy"
    real_write = np.lib.format.write_array
    saves = []

    def write_array(handle, array, **kwargs):
        saves.append(1)
        real_write(handle, array, **kwargs)
        if len(saves) == 8 + 3:  # the 3rd array of the 2nd checkpoint (a model file holds 8 arrays)
            raise KeyboardInterrupt

    monkeypatch.setattr(np.lib.format, "write_array", write_array)
    model = fresh_model(lee_sentences)
    with pytest.raises(KeyboardInterrupt):
        model.train(lee_sentences, total_examples=len(lee_sentences), epochs=4, compute_loss=True,
                    callbacks=[Checkpoint(path)])
    monkeypatch.undo()
    assert [name for name in os.listdir(tmp_path)] == ["run.hsmcy"]  # no temporary file left
    resumed = hsmcy.Word2Vec.load(path)
    assert resumed.training_state["epoch"] == 1  # the checkpoint after epoch 1, whole
    resumed.resume_training(lee_sentences)
    assert_bitwise_equal(resumed, reference_run)


# ------------------------------------------- buffer files rewritten during training
CHANGE_BUFFER_WHILE_TRAINING = r"""
import sys
import numpy as np
import hsmcy
from hsmcy.callbacks import CallbackAny2Vec

how, folder = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(0)
words = [f"w{i}" for i in range(300)]
sentences = [list(rng.choice(words, size=int(rng.integers(2, 30)))) for _ in range(3000)]
path = folder + "/buffer.ids"
model = hsmcy.Word2Vec(vector_size=8, min_count=1, workers=2, batch_words=500, corpus_buffer=path, seed=1)
model.build_vocab(sentences)
# ids and sentence bounds are two regions of the one buffer file (hsmcy.corpus.FileArray)
ids_region, bounds_region = model._encoded.token_ids, model._encoded.sentence_bounds


def read(region):
    return np.fromfile(path, dtype=region.dtype, count=len(region), offset=region.offset)


def write(region, values):
    with open(path, "r+b") as handle:
        handle.seek(region.offset)
        handle.write(np.ascontiguousarray(values, dtype=region.dtype).tobytes())


class Rewrite(CallbackAny2Vec):
    # Rewrites a buffer file in place, same size, after the second batch.
    def __init__(self):
        self.batches = 0

    def on_batch_end(self, model):
        self.batches += 1
        if self.batches != 2:
            return
        if how == "bounds-zeroed":       # in order, but every sentence now empty
            write(bounds_region, np.zeros_like(read(bounds_region)))
        elif how == "one-long-sentence":   # in order, but a sentence longer than any before
            bounds = read(bounds_region)
            bounds[:-1] = 0
            write(bounds_region, bounds)
        elif how == "bounds-backwards":
            write(bounds_region, read(bounds_region)[::-1])
        elif how == "ids-out-of-range":
            write(ids_region, np.full(len(ids_region), 10**6, dtype=np.int32))


try:
    model.train(sentences, total_examples=len(sentences), epochs=2, callbacks=[Rewrite()])
    print("trained", np.all(np.isfinite(model.wv.vectors)))
except ValueError as error:
    print("ValueError:", str(error).splitlines()[0])
"""


@pytest.mark.parametrize("how", ["one-long-sentence", "bounds-zeroed", "bounds-backwards", "ids-out-of-range"])
def test_a_buffer_rewritten_during_training_is_an_error_or_harmless_never_a_crash(tmp_path, how):
    # Each batch read from the buffer is checked against the token range it had when
    # training began, and the workers size their scratch for each batch and check its
    # ids and bounds: a file changed under a running job cannot make a kernel write out
    # of bounds, nor train something else silently.
    # cwd=tmp_path: ``python -c`` puts the working directory first on sys.path, and the
    # project root's source folder (no compiled modules when installed) must not shadow hsmcy.
    package_parent = str(Path(hsmcy.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([package_parent, os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-c", CHANGE_BUFFER_WHILE_TRAINING, how, str(tmp_path)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]   # no signal, no traceback
    expected = "ValueError: corpus buffer"
    assert result.stdout.startswith(expected), result.stdout + result.stderr[-2000:]


def test_most_similar_from_other_threads_while_the_model_trains(lee_sentences):
    """Norms a reader had gensim fill are filled again after each epoch, never reset to
    None under it (most_similar between its fill_norms() and its use of norms failed
    with a TypeError about 1 run in 2 of this loop); norms nobody asked for stay lazy."""
    model = hsmcy.Word2Vec(lee_sentences, vector_size=16, min_count=3, epochs=1, workers=2, seed=3)
    assert model.wv.norms is None
    model.wv.most_similar("the", topn=3)   # fills them
    model.train(lee_sentences, total_examples=len(lee_sentences), epochs=1)
    assert model.wv.norms is not None
    np.testing.assert_allclose(model.wv.norms, np.linalg.norm(model.wv.vectors, axis=1), rtol=1e-6)
    errors = []

    def query():
        try:
            for _ in range(200):
                model.wv.most_similar("the", topn=3)
        except Exception as error:  # noqa: BLE001 -- any failure is the finding
            errors.append(error)

    for _ in range(3):
        threads = [threading.Thread(target=model.train, args=(lee_sentences,),
                                    kwargs=dict(total_examples=len(lee_sentences), epochs=4))]
        threads += [threading.Thread(target=query) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
