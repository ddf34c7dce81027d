"""The one thread runner (hsmcy._runner.run_batches) and what it guarantees its users."""
import threading
import time
import traceback

import numpy as np
import pytest

import hsmcy
from hsmcy import HSClassifier
from hsmcy._runner import run_batches
from conftest import live_threads


def test_every_batch_runs_once_and_every_state_is_finished():
    done, finished, lock = [], [], threading.Lock()

    def work(state, batch):
        with lock:
            done.append((state["thread"], batch))

    used = run_batches(list(range(50)), 4, work, make_state=lambda index: {"thread": index},
                       finish=lambda state: finished.append(state["thread"]), name="test-runner")
    assert used == 4
    assert sorted(batch for _, batch in done) == list(range(50))
    assert sorted(finished) == [0, 1, 2, 3]
    assert live_threads("test-runner") == []


def test_never_more_threads_than_batches_and_nothing_for_no_batches():
    seen = set()
    assert run_batches([7, 8], 1000, lambda state, batch: seen.add(threading.current_thread().name),
                       name="test-few") == 2
    assert len(seen) <= 2
    assert run_batches([], 4, lambda state, batch: None) == 0


def test_one_thread_takes_the_batches_in_order():
    order = []
    run_batches([3, 1, 2], 1, lambda state, batch: order.append(batch))
    assert order == [3, 1, 2]


def test_in_caller_runs_one_threads_batches_in_the_calling_thread():
    """A Dask round's batches (run_batches(in_caller=True)) run in the task's own thread,
    with the same promises: every batch in order, finish after the last, an error
    raised with its traceback after finish; more than one thread still starts threads."""
    calls, finished, polled = [], [], []
    caller = threading.current_thread()
    used = run_batches([4, 2, 9], 1, lambda state, batch: calls.append((state, batch, threading.current_thread())),
                       make_state=lambda index: f"state-{index}", finish=finished.append,
                       poll=lambda: polled.append(True), in_caller=True)
    assert used == 1 and [(s, b) for s, b, _ in calls] == [("state-0", 4), ("state-0", 2), ("state-0", 9)]
    assert all(thread is caller for _, _, thread in calls)
    assert finished == ["state-0"] and polled == [True]

    def failing(state, batch):
        if batch == 2:
            raise ValueError("simulated failure in the caller's batch")
        calls.append(batch)

    calls.clear(), finished.clear()
    with pytest.raises(ValueError, match="simulated failure") as caught:
        run_batches([1, 2, 3], 1, failing, make_state=lambda index: index, finish=finished.append, in_caller=True)
    assert "failing" in [frame.name for frame in traceback.extract_tb(caught.value.__traceback__)]
    assert calls == [1] and finished == [0]
    threads = set()
    run_batches(list(range(20)), 2, lambda state, batch: (threads.add(threading.current_thread()), time.sleep(0.001)),
                in_caller=True, name="test-in-caller")
    assert caller not in threads and live_threads("test-in-caller") == []


def test_a_workers_error_stops_the_others_and_keeps_its_traceback():
    calls, finished, lock = [], [], threading.Lock()

    def failing_work(state, batch):
        with lock:
            calls.append(batch)
        if batch == 5:
            raise MemoryError("simulated failure in a worker")
        time.sleep(0.002)

    with pytest.raises(MemoryError, match="simulated failure") as caught:
        run_batches(range(10_000), 3, failing_work, make_state=lambda index: index, finish=finished.append,
                    name="test-failing")
    assert "failing_work" in [frame.name for frame in traceback.extract_tb(caught.value.__traceback__)]
    assert len(calls) < 100                 # the others stopped after their current batch
    assert sorted(finished) == [0, 1, 2]    # ... and still finished (merged) their state
    assert live_threads("test-failing") == []


def test_an_interrupt_in_the_caller_stops_the_workers_before_returning():
    started, running, lock = [], [], threading.Lock()

    def slow_work(state, batch):
        with lock:
            started.append(batch)
            running.append(1)
        time.sleep(0.01)
        with lock:
            running.pop()

    polls = []

    def poll():
        polls.append(1)
        if len(polls) == 3:
            raise KeyboardInterrupt   # what Ctrl-C does in the waiting thread

    with pytest.raises(KeyboardInterrupt):
        run_batches(range(100_000), 2, slow_work, poll=poll, poll_interval=0.01, name="test-interrupt")
    assert running == []                     # no batch is half done when the caller regains control
    assert live_threads("test-interrupt") == []
    count = len(started)
    time.sleep(0.05)
    assert len(started) == count < 1000      # and none starts afterwards


def test_poll_runs_while_workers_run_and_once_at_the_end():
    polls = []
    run_batches(range(20), 2, lambda state, batch: time.sleep(0.005), poll=lambda: polls.append(time.time()),
                poll_interval=0.01)
    assert len(polls) >= 2


def test_a_second_concurrent_train_of_one_model_is_refused(lee_sentences):
    model = hsmcy.Word2Vec(vector_size=10, min_count=2, workers=1, batch_words=200)
    model.build_vocab(lee_sentences)
    outcome = {}

    class TryAgainInside(hsmcy.callbacks.CallbackAny2Vec):
        def on_batch_end(self, model):
            if "error" not in outcome:
                try:
                    model.train(lee_sentences, total_examples=len(lee_sentences), epochs=1)
                except RuntimeError as error:
                    outcome["error"] = str(error)

    model.train(lee_sentences, total_examples=len(lee_sentences), epochs=1, callbacks=[TryAgainInside()])
    assert "already training" in outcome["error"]
    # and once the first run is over, training works again
    assert model.train(lee_sentences, total_examples=len(lee_sentences), epochs=1)[0] > 0


def test_concurrent_fits_of_one_classifier_are_refused_not_corrupting():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(200)]
    texts = [" ".join(rng.choice(words, 12)) for _ in range(3000)]
    labels = [f"l{i % 17}" for i in range(3000)]
    classifier = HSClassifier(dim=8, epochs=40, workers=1, word_ngrams=2, bucket=5000)
    errors = []

    def fit(texts, labels):
        try:
            classifier.fit(texts, labels)
        except RuntimeError as error:
            errors.append(str(error))

    first = threading.Thread(target=fit, args=(texts, labels))
    first.start()
    while not hasattr(classifier, "inner_node_vectors_") and first.is_alive():
        time.sleep(0.001)
    fit(texts[:100], [f"x{i % 3}" for i in range(100)])   # a different vocabulary and label set
    first.join()
    assert errors and "already being fitted" in errors[0]
    assert np.all(np.isfinite(classifier.input_vectors_))
    assert set(classifier.predict(texts[:20])) <= set(labels)
    classifier.fit(texts[:100], [f"x{i % 3}" for i in range(100)])   # refitting afterwards works
    assert set(classifier.classes_) == {"x0", "x1", "x2"}


def test_worker_counts_are_bounded_and_never_silently_zero(lee_sentences):
    with pytest.raises(ValueError, match="workers must be <= 1024"):
        hsmcy.Word2Vec(workers=10**9)
    model = hsmcy.Word2Vec(vector_size=8, min_count=2, batch_words=2000)
    model.build_vocab(lee_sentences)
    for bad in (0, -1, 10**9):
        model.workers = bad   # edited after the constructor checked it
        started = time.perf_counter()
        with pytest.raises(ValueError, match="workers must be in"):
            model.train(lee_sentences, total_examples=len(lee_sentences), epochs=1)
        assert time.perf_counter() - started < 5
    assert model.training_state is None and model._current_run is None
    # More workers than batches: only as many threads as batches, each with its own stream.
    model.workers = 1000
    started = time.perf_counter()
    assert model.train(lee_sentences[:50], total_examples=50, epochs=1)[0] > 0
    assert time.perf_counter() - started < 5


def test_a_classifier_with_absurd_workers_trains_on_as_many_threads_as_batches():
    texts = ["cheap flights to paris", "fix a flat bike tyre", "easy bread recipe"] * 20
    labels = ["travel", "cycling", "cooking"] * 20
    started = time.perf_counter()
    classifier = HSClassifier(dim=8, epochs=2, workers=10**6, seed=1).fit(texts, labels)
    assert time.perf_counter() - started < 10
    assert classifier.predict(["bread recipe"])[0] == "cooking"
