"""The ``hsmcy`` command, run in subprocesses exactly as a user runs it."""
import contextlib
import fcntl
import io
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import termios
from pathlib import Path

import numpy as np
import pytest
from gensim.models import KeyedVectors
from gensim.test.utils import datapath

import hsmcy

# The subprocesses import the same hsmcy as this test (installed, or built in place).
PACKAGE_PARENT = str(Path(hsmcy.__file__).resolve().parent.parent)
FAST = ["--size", "12", "--epochs", "1", "--workers", "1"]


def run_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = PACKAGE_PARENT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def hsmcy_cli(*args, cwd, check=True):
    """Run ``python -m hsmcy ARGS``; return the CompletedProcess (text)."""
    result = subprocess.run([sys.executable, "-m", "hsmcy", *map(str, args)], cwd=cwd, env=run_env(),
                            capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"hsmcy {args} failed ({result.returncode}):\n{result.stderr}")
    return result


class Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run_main(*args, cwd, capsys, check=True):
    """Run ``hsmcy ARGS`` in this process (``hsmcy.cli.main``), as the command does."""
    from hsmcy.cli import main

    capsys.readouterr()
    previous = os.getcwd()
    os.chdir(cwd)
    try:
        status = main([str(a) for a in args])
    except SystemExit as exit_:  # argparse: usage errors and --help
        status = exit_.code
    finally:
        os.chdir(previous)
    captured = capsys.readouterr()
    result = Result(status, captured.out, captured.err)
    if check and status != 0:
        raise AssertionError(f"hsmcy {args} failed ({status}):\n{result.stderr}")
    return result


def assert_one_line_error(result, *fragments, status=1):
    assert result.returncode == status, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one error line, got:\n{result.stderr}"
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("hsmcy")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def small_corpus(workdir):
    """The first 100 articles of gensim's bundled corpus: fast, still real text."""
    lines = Path(datapath("lee_background.cor")).read_text(encoding="utf-8").splitlines()[:100]
    path = workdir / "small.cor"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained_model(workdir, small_corpus):
    """A full model in hsmcy's format, trained by the command."""
    from hsmcy.cli import main

    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["train", str(small_corpus), "-o", str(workdir / "model.hsmcy"), "--sg", *FAST, "-q"]) == 0
    return workdir / "model.hsmcy", None


def test_train_default_corpus_prints_summary_and_neighbours(workdir):
    result = hsmcy_cli("train", "-o", "default.kv", *FAST, cwd=workdir)
    out = result.stdout
    assert "lee_background.cor" in out
    assert "skip-gram" in out  # the demo default
    assert "nearest neighbours:" in out
    neighbour_lines = out.split("nearest neighbours:")[1].strip().splitlines()
    assert len(neighbour_lines) == 3
    wv = KeyedVectors.load(str(workdir / "default.kv"))
    assert wv.vector_size == 12
    # every word printed before ':' is in the saved vocabulary
    for line in neighbour_lines:
        assert line.strip().split(":")[0] in wv.key_to_index
    # not a terminal: plain log lines on stderr, no progress bar
    assert "INFO" in result.stderr and "EPOCH 1 of " in result.stderr   # epochs count from 1, as in every message
    assert "\r" not in result.stderr


def test_train_quiet_prints_nothing(workdir, small_corpus, capsys):
    result = run_main("train", small_corpus, "-o", "quiet.txt", "--quiet", *FAST, cwd=workdir, capsys=capsys)
    assert result.stderr == "" and result.stdout == ""
    wv = KeyedVectors.load_word2vec_format(str(workdir / "quiet.txt"))
    assert wv.vector_size == 12
    loud = run_main("train", small_corpus, "-o", "loud.txt", *FAST, cwd=workdir, capsys=capsys)
    assert "CBOW" in loud.stdout  # the default for a given corpus
    assert "(word2vec format)" in loud.stdout


def test_train_reports_loss(workdir, small_corpus, capsys):
    result = run_main("train", small_corpus, "-o", "loss.bin", "--loss", *FAST, cwd=workdir, capsys=capsys)
    assert "training loss" in result.stdout and "per word" in result.stdout
    wv = KeyedVectors.load_word2vec_format(str(workdir / "loss.bin"), binary=True)
    assert len(wv) > 100


def test_progress_bar_on_a_terminal(workdir, small_corpus):
    """With stderr on a terminal the command draws a bar: percent, words/s, ETA, learning rate."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "hsmcy", "train", str(small_corpus), "-o", "tty.kv", "--size", "12",
         "--epochs", "2", "--workers", "1", "--loss"],
        cwd=workdir, env=run_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    process.wait(timeout=60)
    drawn = b"".join(chunks).decode("utf-8", errors="replace")
    assert process.returncode == 0, drawn
    assert "100%" in drawn
    assert "word/s" in drawn or "words/s" in drawn
    assert "alpha" in drawn and "loss" in drawn
    assert "INFO" not in drawn  # the bar replaces the log lines


def test_similar(workdir, trained_model, capsys):
    model_path, _ = trained_model
    result = run_main("similar", model_path, "the", "and", "-n", "4", cwd=workdir, capsys=capsys)
    lines = result.stdout.splitlines()
    assert lines[0] == "the:" and lines[5] == "and:"
    wv = hsmcy.Word2Vec.load(model_path).wv
    expected = [word for word, _ in wv.most_similar("the", topn=4)]
    assert [line.split()[1] for line in lines[1:5]] == expected


def test_similar_unknown_word_is_one_line(workdir, trained_model, capsys):
    model_path, _ = trained_model
    result = run_main("similar", model_path, "the", "zzzunknownzzz", cwd=workdir, capsys=capsys, check=False)
    assert_one_line_error(result, "unknown word", "zzzunknownzzz")


def test_convert_round_trips_every_format(workdir, trained_model, capsys):
    model_path, _ = trained_model
    original = hsmcy.Word2Vec.load(model_path).wv
    run_main("convert", model_path, "c.kv", cwd=workdir, capsys=capsys)
    run_main("convert", "c.kv", "c.vec", cwd=workdir, capsys=capsys)
    run_main("convert", "c.vec", "c.bin", cwd=workdir, capsys=capsys)
    run_main("convert", "c.bin", "c.w2v", "--to", "word2vec", cwd=workdir, capsys=capsys)
    final = KeyedVectors.load_word2vec_format(str(workdir / "c.w2v"))
    assert final.index_to_key == original.index_to_key
    np.testing.assert_allclose(final.vectors, original.vectors, rtol=1e-5, atol=1e-6)


def test_convert_full_model_through_gensim(workdir, trained_model, capsys):
    """hsmcy -> gensim full model (saved by gensim) -> hsmcy keeps the tree and syn1."""
    model_path, _ = trained_model
    model = hsmcy.Word2Vec.load(model_path)
    model.to_gensim().save(str(workdir / "full.model"))
    run_main("convert", "full.model", "back.hsmcy", cwd=workdir, capsys=capsys)
    back = hsmcy.Word2Vec.load(workdir / "back.hsmcy")
    np.testing.assert_array_equal(back.syn1, model.syn1)
    np.testing.assert_array_equal(back.tree.path_nodes, model.tree.path_nodes)


def test_train_gensim_model_format_loads_in_gensim_and_predicts(workdir, small_corpus, capsys):
    """``-o x.model``: a full gensim Word2Vec that gensim loads and trains; hsmcy predicts from it."""
    from gensim.models import Word2Vec as GensimWord2Vec

    run_main("train", small_corpus, "-o", "full_gensim.model", "-q", *FAST, cwd=workdir, capsys=capsys)
    loaded = GensimWord2Vec.load(str(workdir / "full_gensim.model"))
    assert loaded.hs == 1 and loaded.negative == 0
    loaded.train([["the", "of", "and"]], total_examples=1, epochs=1)  # gensim continues training it
    model = hsmcy.Word2Vec.from_gensim(GensimWord2Vec.load(str(workdir / "full_gensim.model")))
    if hasattr(model, "predict_output_word"):
        result = run_main("predict", "full_gensim.model", "the", "-n", "2", cwd=workdir, capsys=capsys)
        assert [line.split()[1] for line in result.stdout.splitlines()] == \
            [word for word, _ in model.predict_output_word(["the"], topn=2)]


def test_convert_vectors_to_model_is_refused(workdir, trained_model, capsys):
    run_main("convert", trained_model[0], "only.txt", cwd=workdir, capsys=capsys)
    for target in ("x.hsmcy", "x.model"):
        result = run_main("convert", "only.txt", target, cwd=workdir, capsys=capsys, check=False)
        assert_one_line_error(result, "word vectors only")
        assert not (workdir / target).exists()


def test_eval_defaults_to_gensim_sets(workdir, trained_model, capsys):
    result = run_main("eval", trained_model[0], cwd=workdir, capsys=capsys)
    lines = result.stdout.splitlines()
    assert "questions-words.txt" in lines[0]
    assert "wordsim353.tsv" in lines[1] and "simlex999.txt" in lines[2]
    # the numbers are gensim's own evaluators' on the same vectors
    wv = hsmcy.Word2Vec.load(trained_model[0]).wv
    accuracy, _ = wv.evaluate_word_analogies(datapath("questions-words.txt"), restrict_vocab=30000)
    assert f"accuracy {accuracy:.4f}" in lines[0]
    for line, name in ((lines[1], "wordsim353.tsv"), (lines[2], "simlex999.txt")):
        _, spearman, _ = wv.evaluate_word_pairs(datapath(name), restrict_vocab=30000)
        assert f"Spearman {spearman.statistic:.4f}" in line


def test_predict(workdir, trained_model, capsys):
    model = hsmcy.Word2Vec.load(trained_model[0])
    if not hasattr(model, "predict_output_word"):
        pytest.skip("Word2Vec.predict_output_word is not in this build yet (issue 4)")
    result = run_main("predict", trained_model[0], "the", "of", "-n", "3", cwd=workdir, capsys=capsys)
    rows = [line.split() for line in result.stdout.splitlines()]
    expected = model.predict_output_word(["the", "of"], topn=3)
    assert [row[1] for row in rows] == [word for word, _ in expected]


def test_predict_needs_a_full_model(workdir, trained_model, capsys):
    run_main("convert", trained_model[0], "vectors_only.kv", cwd=workdir, capsys=capsys)
    result = run_main("predict", "vectors_only.kv", "the", cwd=workdir, capsys=capsys, check=False)
    assert_one_line_error(result, "full model")


@pytest.mark.parametrize("args, fragments, status", [
    (["train", "missing.txt", "-o", "x.kv"], ["does not exist", "missing.txt"], 1),
    (["train", "-o", "x.kv", "--size", "0"], ["--size", "positive integer"], 2),
    (["train", "-o", "x.kv", "--alpha", "fast"], ["--alpha", "'fast'"], 2),
    (["train", "-o", "x.kv", "--format", "pickle"], ["--format", "invalid choice"], 2),
    (["train", "-o", "no/such/folder/x.kv", "--epochs", "1"], ["folder", "does not exist"], 1),
    (["similar", "missing.kv", "the"], ["does not exist"], 1),
    (["similar", "not_vectors.txt", "the"], ["cannot read", "not_vectors.txt"], 1),
    (["eval", "broken.vec"], ["cannot read", "broken.vec"], 1),
    (["train", "-o", "x.kv", "empty.txt"], ["empty"], 1),
    (["frobnicate"], ["invalid choice"], 2),
])
def test_errors_are_one_line(workdir, args, fragments, status, capsys):
    (workdir / "not_vectors.txt").write_text("just some words\nnot vectors\n", encoding="utf-8")
    (workdir / "broken.vec").write_text("3 4\nthe 0.1 0.2\n", encoding="utf-8")
    (workdir / "empty.txt").write_text("", encoding="utf-8")
    result = run_main(*args, cwd=workdir, capsys=capsys, check=False)
    assert_one_line_error(result, *fragments, status=status)


def test_errors_in_a_subprocess_are_one_line(workdir):
    """Through the real entry point (``python -m hsmcy``): one line, no traceback, non-zero exit."""
    assert_one_line_error(hsmcy_cli("similar", "missing.kv", "x", cwd=workdir, check=False), "does not exist")
    assert_one_line_error(hsmcy_cli("train", "-o", "x.kv", "--window", "-3", cwd=workdir, check=False),
                          "--window", status=2)


def test_console_script_is_installed(workdir):
    """``hsmcy`` on PATH (after ``pip install .``) is the same command."""
    executable = shutil.which("hsmcy")
    if executable is None:
        pytest.skip("the hsmcy console script is not installed (source tree run)")
    result = subprocess.run([executable, "--version"], capture_output=True, text=True, env=run_env(), timeout=60)
    assert result.returncode == 0
    assert result.stdout.strip() == f"hsmcy {hsmcy.__version__}"


def default_sigint():
    """In the child: Ctrl-C's default disposition, so that Python installs its handler even when
    the test run itself ignores SIGINT (a shell's background job does)."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_during_training_is_one_line_and_status_130(workdir):
    import signal

    process = subprocess.Popen([sys.executable, "-m", "hsmcy", "train", "-o", "interrupted.kv", "--epochs", "500",
                                "--workers", "1"], cwd=workdir, env=run_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    lines = []
    for line in process.stderr:  # wait until an epoch has been trained
        lines.append(line)
        if "EPOCH" in line:
            break
    process.send_signal(signal.SIGINT)
    out, rest = process.communicate(timeout=120)
    lines.extend(rest.splitlines(keepends=True))
    assert process.returncode == 130, "".join(lines)
    assert "Traceback" not in "".join(lines)
    # the command's own words: how far it got, that nothing was kept, and how to be able to resume
    assert lines[-1].startswith("hsmcy train: interrupted in epoch "), lines[-1]
    assert "nothing was saved" in lines[-1] and "--checkpoint" in lines[-1]
    assert "resume_training" not in "".join(lines)  # a Python call means nothing on the command line
    assert not (workdir / "interrupted.kv").exists()


def test_ctrl_c_with_checkpoint_then_resume_gives_the_uninterrupted_result(workdir, small_corpus):
    """``--checkpoint`` keeps the run when interrupted; the command it prints continues it, bit for bit
    the uninterrupted run's result (one worker)."""
    import shlex
    import signal

    corpus = workdir / "tiny.cor"
    corpus.write_text("\n".join(small_corpus.read_text(encoding="utf-8").splitlines()[:30]) + "\n", encoding="utf-8")
    common = ["--size", "12", "--epochs", "200", "--workers", "1", "--min-count", "2"]
    process = subprocess.Popen([sys.executable, "-m", "hsmcy", "train", corpus.name, "-o", "resumed.hsmcy", *common,
                                "--checkpoint", "run.hsmcy"], cwd=workdir, env=run_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    for line in process.stderr:  # wait for the first checkpoint
        if "checkpoint after epoch" in line:
            break
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=120)
    message = rest.strip().splitlines()[-1]
    assert process.returncode == 130, rest
    assert "resume_training" not in rest
    assert message.startswith("hsmcy train: interrupted in epoch ") and "saved in run.hsmcy" in message
    command = re.search(r"`(hsmcy train [^`]*)`", message).group(1)
    assert command == f"hsmcy train {corpus.name} -o resumed.hsmcy --resume run.hsmcy"
    assert hsmcy.Word2Vec.load(workdir / "run.hsmcy").training_state is not None
    assert not (workdir / "resumed.hsmcy").exists()
    hsmcy_cli(*shlex.split(command)[1:], "-q", cwd=workdir)
    hsmcy_cli("train", corpus.name, "-o", "straight.hsmcy", *common, "-q", cwd=workdir)
    resumed = hsmcy.Word2Vec.load(workdir / "resumed.hsmcy")
    straight = hsmcy.Word2Vec.load(workdir / "straight.hsmcy")
    np.testing.assert_array_equal(resumed.wv.vectors, straight.wv.vectors)
    np.testing.assert_array_equal(resumed.syn1, straight.syn1)


def test_resume_refuses_new_parameters_and_finished_runs(workdir, small_corpus, capsys):
    run_main("train", small_corpus, "-o", "done.hsmcy", *FAST, "-q", "--checkpoint", "done-run.hsmcy", cwd=workdir,
             capsys=capsys)
    result = run_main("train", small_corpus, "-o", "x.kv", "--resume", "done-run.hsmcy", "--epochs", "3",
                      cwd=workdir, capsys=capsys, check=False)
    assert_one_line_error(result, "--resume", "own parameters", "--epochs")
    result = run_main("train", small_corpus, "-o", "x.kv", "--resume", "done-run.hsmcy", cwd=workdir, capsys=capsys,
                      check=False)
    assert_one_line_error(result, "finished run", "nothing to resume")
    assert not (workdir / "x.kv").exists()


@pytest.mark.parametrize("link", ["same path", "symbolic link", "hard link", "relative path"])
def test_output_never_overwrites_the_corpus(workdir, small_corpus, capsys, link):
    corpus = workdir / "precious.txt"
    corpus.write_bytes(small_corpus.read_bytes())
    before = corpus.read_bytes()
    output = {"same path": corpus, "symbolic link": workdir / "symlink.txt", "hard link": workdir / "hardlink.txt",
              "relative path": Path("sub") / ".." / "precious.txt"}[link]
    (workdir / "sub").mkdir(exist_ok=True)
    for extra in ("symlink.txt", "hardlink.txt"):
        (workdir / extra).unlink(missing_ok=True)
    if link == "symbolic link":
        output.symlink_to(corpus)
    elif link == "hard link":
        os.link(corpus, output)
    for args in (["-o", output], ["-o", "fine.kv", "--checkpoint", output]):
        result = run_main("train", corpus, *args, *FAST, cwd=workdir, capsys=capsys, check=False)
        assert_one_line_error(result, "corpus", "choose another file name")
        assert corpus.read_bytes() == before
    assert not (workdir / "fine.kv").exists()


def test_convert_never_overwrites_its_input(workdir, trained_model, capsys):
    source = workdir / "source.vec"
    run_main("convert", trained_model[0], source, cwd=workdir, capsys=capsys)
    before = source.read_bytes()
    (workdir / "source-link.txt").unlink(missing_ok=True)
    os.link(source, workdir / "source-link.txt")
    for target in (source, workdir / "source-link.txt"):
        result = run_main("convert", source, target, cwd=workdir, capsys=capsys, check=False)
        assert_one_line_error(result, "is the input", "choose another file name")
    assert source.read_bytes() == before


@pytest.mark.parametrize("output", ["vectors", "vectors.zip", "vectors.npy"])
def test_output_format_is_never_guessed(workdir, small_corpus, capsys, output):
    """An extension that names no format needs --format: the command refuses rather than guess."""
    result = run_main("train", small_corpus, "-o", output, *FAST, cwd=workdir, capsys=capsys, check=False)
    assert_one_line_error(result, "cannot tell which format", ".hsmcy", "--format")
    assert not (workdir / output).exists()
    run_main("train", small_corpus, "-o", output, "--format", "word2vec", *FAST, "-q", cwd=workdir, capsys=capsys)
    assert KeyedVectors.load_word2vec_format(str(workdir / output)).vector_size == 12
    result = run_main("convert", output, output + ".out", cwd=workdir, capsys=capsys, check=False)
    assert_one_line_error(result, "cannot tell which format", "--to")
