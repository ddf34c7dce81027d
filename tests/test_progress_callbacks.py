"""Training feedback: gensim-style logs, the progress bar, gensim's callbacks."""
import io
import logging

import pytest
from gensim.models.callbacks import CallbackAny2Vec
from gensim.test.utils import datapath

import hsmcy
import hsmcy.word2vec
from hsmcy.progress import TrainingProgress, format_count, format_duration

CORPUS = datapath("lee_background.cor")


class Recorder(CallbackAny2Vec):
    """A gensim callback, written for gensim, recording every hook call."""

    def __init__(self):
        self.events = []
        self.losses = []

    def on_train_begin(self, model):
        self.events.append("train_begin")

    def on_epoch_begin(self, model):
        self.events.append("epoch_begin")

    def on_epoch_end(self, model):
        self.events.append("epoch_end")
        self.losses.append(model.get_latest_training_loss())

    def on_train_end(self, model):
        self.events.append("train_end")


def test_gensim_callbacks_run(lee_sentences):
    recorder = Recorder()
    hsmcy.Word2Vec(lee_sentences[:200], epochs=3, workers=2, compute_loss=True, callbacks=[recorder])
    assert recorder.events == ["train_begin"] + ["epoch_begin", "epoch_end"] * 3 + ["train_end"]
    assert recorder.losses[0] > 0 and recorder.losses == sorted(recorder.losses)


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    lines = open(CORPUS, encoding="utf-8").read().splitlines()[:60]
    path = tmp_path_factory.mktemp("progress") / "small.cor"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_gensim_callbacks_are_called_once_per_epoch_with_the_loss_readable(small_corpus):
    recorder = Recorder()
    model = hsmcy.Word2Vec(corpus_file=small_corpus, vector_size=10, epochs=3, workers=2, min_count=2,
                           compute_loss=True, callbacks=[recorder])
    assert recorder.events == ["train_begin"] + ["epoch_begin", "epoch_end"] * 3 + ["train_end"]
    # gensim's convention: the loss is cumulative within one train() call
    assert len(recorder.losses) == 3
    assert 0 < recorder.losses[0] < recorder.losses[1] < recorder.losses[2]
    assert recorder.losses[-1] == pytest.approx(model.get_latest_training_loss())


def test_the_same_callback_works_in_gensim_and_hsmcy(small_corpus):
    """The callback object is gensim's own class; gensim calls the same hooks."""
    from gensim.models import Word2Vec as GensimWord2Vec

    for cls in (GensimWord2Vec, hsmcy.Word2Vec):
        recorder = Recorder()
        cls(corpus_file=small_corpus, vector_size=10, epochs=2, workers=1, min_count=2, hs=1, negative=0,
            compute_loss=True, callbacks=[recorder])
        assert recorder.events.count("epoch_end") == 2, cls
        assert recorder.events[0] == "train_begin" and recorder.events[-1] == "train_end"


def test_training_logs_progress_and_a_summary(small_corpus, caplog):
    with caplog.at_level(logging.INFO, logger="hsmcy"):
        hsmcy.Word2Vec(corpus_file=small_corpus, vector_size=10, epochs=2, workers=1, min_count=2,
                       compute_loss=True)
    messages = [record.getMessage() for record in caplog.records if record.name.startswith("hsmcy")]
    assert any(m.startswith("build_vocab:") for m in messages)
    epoch_lines = [m for m in messages if m.startswith("EPOCH ") and "trained" in m]
    assert len(epoch_lines) == 2 and all("words/s" in m and "loss" in m for m in epoch_lines)
    # epochs count from 1 here as in every other message ("stopped in epoch 1 of 2")
    assert [m.split(":")[0] for m in epoch_lines] == ["EPOCH 1 of 2", "EPOCH 2 of 2"]
    assert any(m.startswith("training on") and "effective words/s" in m for m in messages)


def test_progress_lines_give_the_epochs_percentage(small_corpus, caplog):
    # As gensim's: "at x% of the epoch", which starts again at every epoch.
    model = hsmcy.Word2Vec(vector_size=10, workers=2, min_count=2, batch_words=200)
    model.build_vocab(corpus_file=small_corpus)
    with caplog.at_level(logging.INFO, logger="hsmcy"):
        model.train(corpus_file=small_corpus, epochs=3, report_delay=0.0)
    progress = [record.getMessage() for record in caplog.records if "PROGRESS" in record.getMessage()]
    percent = {}
    for line in progress:
        epoch = int(line.split()[1])
        percent.setdefault(epoch, []).append(float(line.split("at ")[1].split("%")[0]))
    assert sorted(percent) == [1, 2, 3]
    assert all(0.0 <= p <= 100.0 for values in percent.values() for p in values)
    assert all(values == sorted(values) for values in percent.values())


def test_train_returns_gensims_counts(small_corpus):
    # (words trained after down-sampling, raw words read incl. out-of-vocabulary ones), as gensim
    from gensim.models import Word2Vec as GensimWord2Vec
    with open(small_corpus, encoding="utf-8") as handle:
        sentences = [line.split() for line in handle]
    ours = hsmcy.Word2Vec(vector_size=10, workers=1, min_count=3, sample=0)
    ours.build_vocab(sentences)
    theirs = GensimWord2Vec(vector_size=10, workers=1, min_count=3, sample=0, hs=1, negative=0)
    theirs.build_vocab(sentences)
    raw = sum(map(len, sentences))
    known = sum(word in ours.wv.key_to_index for sentence in sentences for word in sentence)
    assert known < raw   # the corpus has words below min_count
    expected = theirs.train(sentences, total_examples=len(sentences), epochs=2)
    assert ours.train(sentences, total_examples=len(sentences), epochs=2) == expected == (2 * known, 2 * raw)


def _train_with_bar(corpus, monkeypatch, backend, compute_loss):
    stream = io.StringIO()
    bars = []

    def make_bar(total):
        bar = TrainingProgress(total, stream=stream, backend=backend, min_interval=0.0)
        bars.append(bar)
        return bar

    monkeypatch.setattr(hsmcy.word2vec, "TrainingProgress", make_bar)
    model = hsmcy.Word2Vec(vector_size=10, epochs=3, workers=2, min_count=2)
    model.build_vocab(corpus_file=corpus)
    model.train(corpus_file=corpus, progress=True, compute_loss=compute_loss)
    (bar,) = bars
    return model, bar, stream.getvalue()


@pytest.mark.parametrize("backend", ["plain", "tqdm"])
def test_progress_bar_finishes_at_100_percent_with_rate_alpha_and_loss(small_corpus, monkeypatch, backend):
    if backend == "tqdm":
        pytest.importorskip("tqdm")
    model, bar, drawn = _train_with_bar(small_corpus, monkeypatch, backend, compute_loss=True)
    assert bar.backend == backend
    assert bar.words_done == bar.total_words  # 100%: every word of every epoch
    assert bar.alpha == pytest.approx(model.min_alpha)  # the schedule ran to its end
    assert bar.loss is not None and bar.loss > 0
    final = drawn.rstrip("\n").split("\r")[-1]
    assert "100%" in final
    assert "alpha" in final and "loss" in final
    assert "words/s" in final or "word/s" in final


def test_progress_bar_without_compute_loss_shows_no_loss(small_corpus, monkeypatch):
    _, bar, drawn = _train_with_bar(small_corpus, monkeypatch, "plain", compute_loss=False)
    assert bar.loss is None
    assert "loss" not in drawn and "100%" in drawn


def test_plain_bar_line():
    bar = TrainingProgress(200_000, stream=io.StringIO(), backend="plain")
    bar.update(50_000, alpha=0.02, loss=3.25)
    line = bar.line(now=bar.started + 2.0)
    assert line.startswith("training  25% |#####---------------| 50k/200k words")
    assert "25k words/s" in line and "00:02<00:06" in line
    assert "alpha 0.02000" in line and "loss 3.25" in line
    bar.update(10)  # never goes backwards
    assert bar.words_done == 50_000


def test_formatting_helpers():
    assert format_count(999) == "999"
    assert format_count(1234) == "1.23k"
    assert format_count(2_500_000) == "2.5M"
    assert format_duration(75) == "01:15"
    assert format_duration(3700) == "1:01:40"
    with pytest.raises(ValueError, match="backend"):
        TrainingProgress(10, backend="fancy")


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_plain_bar_on_a_terminal_redraws_one_line_in_place():
    stream = FakeTerminal()
    bar = TrainingProgress(1000, stream=stream, backend="plain", min_interval=0.0)
    for done in (100, 500, 1000):
        bar.update(done, alpha=0.01)
    bar.close()
    drawn = stream.getvalue()
    frames = drawn.rstrip("\n").split("\r")[1:]
    assert len(frames) >= 3
    assert len({len(frame) for frame in frames}) == 1  # padded to the width: no leftovers from longer frames
    assert all(len(frame) < 100 for frame in frames)    # never wraps (width unknown: 100 columns)
    assert frames[-1].startswith("training 100%")
    assert drawn.endswith("\n")


def test_auto_backend_falls_back_to_the_plain_bar_without_tqdm(monkeypatch):
    """tqdm is optional: without it, progress=True still draws a bar."""
    import sys

    monkeypatch.setitem(sys.modules, "tqdm", None)  # makes ``import tqdm...`` raise ImportError
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    bar = TrainingProgress(100, stream=io.StringIO())
    assert bar.backend == "plain"
    with pytest.raises(ImportError, match="tqdm"):
        TrainingProgress(100, stream=io.StringIO(), backend="tqdm")
