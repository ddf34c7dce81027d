"""Measure the peak memory of build_vocab + train in a fresh process (used by the memory tests).

Usage: python memory_probe.py CORPUS_FILE VECTOR_SIZE WORKERS EPOCHS [MIN_COUNT]
Prints one JSON line: hsmcy's estimate and the measured growth of peak RSS (VmHWM)
over the RSS just before build_vocab (numpy, gensim and hsmcy already imported).
"""
import json
import resource
import sys


def _status_kib(field):
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def current_rss():
    return _status_kib("VmRSS")


def peak_rss():
    """Peak RSS of this process image.

    ``/proc/self/status`` VmHWM, not ``getrusage().ru_maxrss``: on Linux the latter
    survives ``exec`` and so starts at the RSS of the parent that spawned us (a big
    pytest process), which would swamp what we measure.  Both are read; they agree
    when the parent is small.
    """
    return max(_status_kib("VmHWM"), 0)


def reset_peak():
    """Make VmHWM = current RSS (Linux >= 4.0), so the peak measured is the work's own."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def main():
    path, vector_size, workers, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    min_count = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    import numpy  # noqa: F401

    import hsmcy

    reset_peak()
    baseline = current_rss()
    model = hsmcy.Word2Vec(vector_size=vector_size, min_count=min_count, workers=workers, epochs=epochs, sg=0,
                           window=2, sample=0)
    model.build_vocab(corpus_file=path)
    estimate = model.estimate_memory()
    after_vocab = peak_rss()
    pointers = (model.wv.vectors.__array_interface__["data"][0], model.syn1.__array_interface__["data"][0])
    vectors, syn1 = model.wv.vectors, model.syn1
    model.train(corpus_file=path, total_examples=model.corpus_count, epochs=epochs)
    same_arrays = (model.wv.vectors is vectors and model.syn1 is syn1 and pointers ==
                   (model.wv.vectors.__array_interface__["data"][0], model.syn1.__array_interface__["data"][0]))
    print(json.dumps({"estimate": estimate, "baseline": baseline, "peak_growth": peak_rss() - baseline,
                      "peak_growth_build_vocab": after_vocab - baseline, "same_arrays": same_arrays,
                      "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      "vocab_size": len(model.wv), "tokens": model.corpus_total_words}))


if __name__ == "__main__":
    main()
